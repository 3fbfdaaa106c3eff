"""prove: which ids a read tool's result mints, and when it refuses."""

from __future__ import annotations

import dataclasses
import inspect
from collections import namedtuple
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

import actguard
from actguard import GuardError, MemoryStore, RequireFact, enforce, prove
from actguard.testing import FakeClock, capture_events


def ns(session_id: str = "s1", user: str = "alice") -> str:
    return actguard.session(session_id, {"user_id": user}).namespace


def proven(store: MemoryStore, kind: str, values: list[str], session_id: str = "s1") -> list[str]:
    """The values that ARE proven as ``kind`` in the session."""
    missing = store.facts_missing(ns(session_id), kind, values)
    return [v for v in values if v not in missing]


def run(fn: Any, *args: Any) -> Any:
    with actguard.session("s1", {"user_id": "alice"}):
        return fn(*args)


@dataclasses.dataclass
class Order:
    id: str
    total: float


class Customer(pydantic.BaseModel):
    id: int
    name: str
    orders: list[Order] = []


Row = namedtuple("Row", ["id", "name"])


@pytest.mark.parametrize(
    ("extract", "result", "expected"),
    [
        ("id", {"id": "o1"}, ["o1"]),
        ("id", [{"id": "o1"}, {"id": "o2"}, {"id": None}, {"other": "x"}], ["o1", "o2"]),
        ("id", ({"id": "o1"}, {"id": 2}), ["o1", "2"]),
        ("id", {frozenset({("k", 1)}): 1, "id": "o3"}, ["o3"]),
        ("orders.id", {"orders": [{"id": "o1"}, {"id": "o2"}]}, ["o1", "o2"]),
        ("data.customer.id", {"data": {"customer": {"id": 42}}}, ["42"]),
        ("ids", {"ids": ["a", "b", None]}, ["a", "b"]),
        ("ids", {"ids": {"a", "b"}}, ["a", "b"]),
        ("id", [Order("o1", 1.0), Order("o2", 2.0)], ["o1", "o2"]),
        ("id", Customer(id=7, name="x"), ["7"]),
        ("orders.id", Customer(id=7, name="x", orders=[Order("o5", 1.0)]), ["o5"]),
        ("id", [Row("r1", "a"), Row("r2", "b")], ["r1", "r2"]),
        ("_id", [{"_id": "m1"}], ["m1"]),
        ("id", None, []),
        ("id", [], []),
        ("id", "not-a-record", []),
    ],
)
def test_extract_by_name_or_path(store: MemoryStore, extract: str, result: Any, expected: list[str]) -> None:
    @prove(kind="k", extract=extract)
    def read() -> Any:
        return result

    assert run(read) is result
    everything = ["o1", "o2", "o3", "o5", "2", "42", "7", "a", "b", "r1", "r2", "m1", "None", ""]
    assert sorted(proven(store, "k", everything)) == sorted(expected)


def test_extract_callable_returning_one_value_or_many(store: MemoryStore) -> None:
    @prove(kind="k", extract=lambda r: r["primary"])
    def one() -> dict[str, Any]:
        return {"primary": "p1", "other": "x"}

    @prove(kind="k", extract=lambda r: (row["sku"] for row in r))
    def many() -> list[dict[str, Any]]:
        return [{"sku": "s1"}, {"sku": "s2"}]

    @prove(kind="k", extract=lambda r: None)
    def nothing() -> int:
        return 1

    run(one)
    run(many)
    run(nothing)
    assert proven(store, "k", ["p1", "x", "s1", "s2", "None"]) == ["p1", "s1", "s2"]


def test_generator_result_is_read_once_and_returned_as_an_iterator(store: MemoryStore) -> None:
    @prove(kind="k", extract="id")
    def read() -> Iterator[dict[str, str]]:
        yield {"id": "g1"}
        yield {"id": "g2"}

    out = run(read)
    assert isinstance(out, Iterator)
    assert list(out) == [{"id": "g1"}, {"id": "g2"}]
    assert proven(store, "k", ["g1", "g2"]) == ["g1", "g2"]


def test_an_iterator_nested_in_the_result_is_refused_not_silently_consumed(store: MemoryStore) -> None:
    @prove(kind="k", extract="items.id")
    def read() -> dict[str, Any]:
        return {"items": iter([{"id": "x"}])}

    with pytest.raises(actguard.ConfigError, match="one-shot iterator"):
        run(read)


@pytest.mark.parametrize("bad", [1.5, True, {"nested": 1}, b"x", object()])
def test_a_value_that_is_not_an_id_fails_loudly(store: MemoryStore, bad: Any) -> None:
    @prove(kind="k", extract="id")
    def read() -> list[dict[str, Any]]:
        return [{"id": "ok"}, {"id": bad}]

    with pytest.raises(actguard.ConfigError, match="not an id"):
        run(read)
    assert proven(store, "k", ["ok"]) == []  # nothing minted from a result that failed


def test_tool_that_raises_mints_nothing(store: MemoryStore) -> None:
    @prove(kind="k", extract="id")
    def read() -> dict[str, str]:
        raise RuntimeError("db down")

    with pytest.raises(RuntimeError):
        run(read)
    assert store.facts_missing(ns(), "k", ["o1"]) == ["o1"]


def test_too_many_results_block_mints_nothing(store: MemoryStore) -> None:
    calls = []

    @prove(kind="k", extract="id", max_items=3)
    def read(n: int) -> list[dict[str, str]]:
        calls.append(n)
        return [{"id": f"o{i}"} for i in range(n)]

    run(read, 3)
    assert proven(store, "k", ["o0", "o1", "o2"]) == ["o0", "o1", "o2"]
    with pytest.raises(GuardError) as info:
        run(read, 5)
    assert info.value.code == "TOO_MANY_RESULTS"
    assert calls == [3, 5]  # the read happened; documented
    assert "narrower" in info.value.to_prompt()
    assert proven(store, "k", ["o3", "o4"]) == []


def test_duplicates_count_once_toward_max_items(store: MemoryStore) -> None:
    @prove(kind="k", extract="id", max_items=2)
    def read() -> list[dict[str, Any]]:
        return [{"id": "a"}, {"id": "a"}, {"id": 1}, {"id": "1"}]

    run(read)
    assert proven(store, "k", ["a", "1"]) == ["a", "1"]


def test_too_many_results_truncate_mints_the_first(store: MemoryStore) -> None:
    @prove(kind="k", extract="id", max_items=2, on_too_many="truncate")
    def read() -> list[dict[str, str]]:
        return [{"id": "a"}, {"id": "b"}, {"id": "c"}]

    with capture_events() as events:
        assert len(run(read)) == 3
    assert proven(store, "k", ["a", "b", "c"]) == ["a", "b"]
    (event,) = events.of(category="custody")
    assert (event["name"], event["outcome"], event["payload"]["truncated"]) == ("prove", "recorded", True)


def test_facts_expire_at_their_ttl(store: MemoryStore, clock: FakeClock) -> None:
    @prove(kind="k", extract="id", ttl=60)
    def read() -> dict[str, str]:
        return {"id": "o1"}

    run(read)
    clock.advance(59.9)
    assert proven(store, "k", ["o1"]) == ["o1"]
    clock.advance(0.1)
    assert proven(store, "k", ["o1"]) == []


def test_expired_facts_are_evicted_from_memory(store: MemoryStore, clock: FakeClock) -> None:
    @prove(kind="k", extract="id", ttl=1, max_items=10_000)
    def read(session_no: int) -> list[dict[str, str]]:
        return [{"id": f"{session_no}-{i}"} for i in range(100)]

    for n in range(50):
        with actguard.session(f"s{n}"):
            read(n)
    assert len(store._facts) == 50
    clock.advance(2)
    store.sweep()
    assert store._facts == {}


def test_prove_outside_a_session_refuses_before_the_tool_runs(store: MemoryStore) -> None:
    ran = []

    @prove(kind="k", extract="id")
    def read() -> dict[str, str]:
        ran.append(1)
        return {"id": "o1"}

    with pytest.raises(GuardError) as info:
        read()
    assert info.value.code == "NO_SESSION" and ran == []


async def test_async_read_tool(store: MemoryStore) -> None:
    @prove(kind="k", extract="id")
    async def read(user_id: str) -> list[dict[str, str]]:
        """Docstring kept."""
        return [{"id": f"{user_id}-1"}]

    assert inspect.iscoroutinefunction(read)
    assert read.__name__ == "read" and read.__doc__ == "Docstring kept."
    async with actguard.session("s1", {"user_id": "alice"}):
        await read("alice")
    assert proven(store, "k", ["alice-1"]) == ["alice-1"]
    with pytest.raises(GuardError, match="NO_SESSION"):
        await read("alice")


def test_signature_name_and_doc_are_kept() -> None:
    def list_orders(user_id: str, limit: int = 10) -> list[dict[str, str]]:
        """List the user's orders."""
        return []

    wrapped = prove(kind="order_id", extract="id")(list_orders)
    assert wrapped.__name__ == "list_orders"
    assert wrapped.__doc__ == "List the user's orders."
    assert inspect.signature(wrapped) == inspect.signature(list_orders)
    assert "list_orders" in actguard.custody.proving_tools("order_id")


def test_explicit_store_is_used_instead_of_the_default(store: MemoryStore, clock: FakeClock) -> None:
    own = MemoryStore(clock=clock)

    @prove(kind="k", extract="id", store=own)
    def read() -> dict[str, str]:
        return {"id": "o1"}

    @enforce([RequireFact("oid", "k")], store=own)
    def write(oid: str) -> str:
        return oid

    with actguard.session("s1", {"user_id": "alice"}):
        read()
        assert write("o1") == "o1"
    assert store.facts_missing(ns(), "k", ["o1"]) == ["o1"]  # nothing in the default store


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"kind": "", "extract": "id"}, "kind"),
        ({"kind": 3, "extract": "id"}, "kind"),
        ({"kind": "k", "extract": ""}, "extract"),
        ({"kind": "k", "extract": "a..b"}, "extract"),
        ({"kind": "k", "extract": "__class__"}, "extract"),
        ({"kind": "k", "extract": 5}, "extract"),
        ({"kind": "k", "extract": "id", "ttl": 0}, "ttl"),
        ({"kind": "k", "extract": "id", "ttl": float("inf")}, "ttl"),
        ({"kind": "k", "extract": "id", "ttl": True}, "ttl"),
        ({"kind": "k", "extract": "id", "max_items": 0}, "max_items"),
        ({"kind": "k", "extract": "id", "max_items": 2.0}, "max_items"),
        ({"kind": "k", "extract": "id", "on_too_many": "drop"}, "on_too_many"),
        ({"kind": "k", "extract": "id", "store": {}}, "store"),
    ],
)
def test_bad_arguments_fail_at_decoration(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(actguard.ConfigError, match=named):
        prove(**kwargs)


def test_bare_use_and_async_generators_fail_at_decoration() -> None:
    def f() -> None: ...

    with pytest.raises(actguard.ConfigError, match="needs arguments"):
        prove(f, "id")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="extract"):  # bare @prove: Python's own missing-argument error
        prove(f)  # type: ignore[call-arg, arg-type]

    async def agen() -> Any:
        yield 1

    with pytest.raises(actguard.ConfigError, match="async generator"):
        prove(kind="k", extract="id")(agen)


async def test_plain_function_returning_a_coroutine_mints_when_awaited(store: MemoryStore) -> None:
    async def fetch() -> list[dict[str, str]]:
        return [{"id": "c1"}]

    @prove(kind="k", extract="id")
    def read() -> Any:
        return fetch()

    async with actguard.session("s1", {"user_id": "alice"}):
        pending = read()
        assert proven(store, "k", ["c1"]) == []
        assert await pending == [{"id": "c1"}]
    assert proven(store, "k", ["c1"]) == ["c1"]
