"""Canonical fact values and session namespaces."""

from __future__ import annotations

import enum
import json
import uuid
from decimal import Decimal

import pytest

import actguard
from actguard.custody import canonical
from actguard.custody._facts import FactTypeError


class Color(str, enum.Enum):
    RED = "red"


class Num(enum.IntEnum):
    ONE = 1


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("o1", "o1"),
        ("", ""),
        (" 1", " 1"),
        (1, "1"),
        (-7, "-7"),
        (10**30, str(10**30)),
        (Color.RED, "red"),
        (Num.ONE, "1"),
        (uuid.UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
    ],
)
def test_ids_have_one_canonical_text(value: object, text: str) -> None:
    assert canonical(value) == text


@pytest.mark.parametrize("value", [True, False, 1.0, float("nan"), None, b"o1", Decimal(1), {"id": 1}, [1], object()])
def test_values_that_are_not_ids_are_refused(value: object) -> None:
    with pytest.raises(FactTypeError, match="not an id"):
        canonical(value)


def test_int_and_its_decimal_string_are_one_fact_but_other_spellings_are_not() -> None:
    assert canonical(1) == canonical("1")
    assert len({canonical(v) for v in ("01", " 1", "1.0", "+1", 1)}) == 5


def test_namespace_is_json_of_session_id_and_sorted_scope() -> None:
    s = actguard.session("req-1", {"user_id": "alice", "org": "acme"})
    assert json.loads(s.namespace) == ["req-1", [["org", "acme"], ["user_id", "alice"]]]
    assert actguard.session("req-1", {"org": "acme", "user_id": "alice"}).namespace == s.namespace


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("a", {"u": "b"}), ("a", {"u": "b", "x": ""})),
        (("a", {"u": "b,c"}), ("a", {"u": "b", "c": ""})),
        (('a", "u', {}), ("a", {"u": ""})),
        (("a:u", {"b": "c"}), ("a", {"u:b": "c"})),
        (("a", None), ("a", {"": ""})),
    ],
)
def test_namespaces_of_different_sessions_never_collide(
    a: tuple[str, dict[str, str] | None], b: tuple[str, dict[str, str] | None]
) -> None:
    assert actguard.session(*a).namespace != actguard.session(*b).namespace
