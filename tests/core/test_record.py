"""The store's value classes (actguard._record.Record) behave as the frozen dataclasses they replaced."""

from __future__ import annotations

import copy
import pickle

import pytest

from actguard.stores import Store
from actguard.stores._base import BreakerDecision, Claim, Reservation, SpendTotals, WindowDecision


def test_equality_and_hash_are_by_class_and_values() -> None:
    assert SpendTotals(1.5, 3) == SpendTotals(1.5, 3)
    assert SpendTotals(1.5, 3) != SpendTotals(1.5, 4)
    assert hash(SpendTotals(1.5, 3)) == hash(SpendTotals(1.5, 3))
    assert Reservation(True, 1.5, 3) != (True, 1.5, 3)  # not a tuple
    assert WindowDecision(True, 1, 0.0) != BreakerDecision(True, False, 0.0, 1)


def test_defaults_repr_and_keywords() -> None:
    assert Claim("done") == Claim(status="done", result=None, retry_after=0.0)
    assert repr(Claim("done", result=[1])) == "Claim(status='done', result=[1], retry_after=0.0)"


def test_fields_cannot_be_set_or_deleted_and_there_is_no_instance_dict() -> None:
    totals = SpendTotals(1.0, 2)
    with pytest.raises(AttributeError, match="frozen SpendTotals"):
        totals.usd = 3.0  # type: ignore[misc]
    with pytest.raises(AttributeError, match="frozen SpendTotals"):
        del totals.tokens
    assert not hasattr(totals, "__dict__")


def test_pickle_copy_and_match() -> None:
    claim = Claim("unknown", retry_after=2.5)
    assert pickle.loads(pickle.dumps(claim)) == claim
    assert copy.deepcopy(claim) == claim and copy.copy(claim) == claim
    match SpendTotals(0.25, 7):
        case SpendTotals(usd, tokens):
            assert (usd, tokens) == (0.25, 7)
        case _:  # pragma: no cover
            pytest.fail("SpendTotals did not match positionally")


def test_a_store_hands_them_out() -> None:
    from actguard import MemoryStore

    store: Store = MemoryStore()
    assert store.hit_window("k", 2, 60.0) == WindowDecision(True, 1, 0.0)
