from __future__ import annotations

import asyncio
import inspect
import typing
from typing import Any

import pytest

import actguard
from actguard import (
    CircuitOpenError,
    ConfigError,
    IdempotencyOutcomeUnknown,
    MaxAttemptsExceeded,
    MemoryStore,
    RateLimitExceeded,
    RunContext,
    ToolTimeoutError,
)
from actguard.guards import GUARD_ORDER
from actguard.testing import FakeClock, capture_events


def test_a_cached_duplicate_consumes_nothing(store: MemoryStore) -> None:
    effects: list[str] = []

    @actguard.tool(
        idempotent={"ttl_s": 600},
        max_attempts={"calls": 2},
        rate_limit={"max_calls": 2, "period": 60, "scope": "user_id"},
    )
    def search_web(user_id: str, query: str, *, idempotency_key: str) -> str:
        effects.append(idempotency_key)
        return f"results for {query}"

    with RunContext():
        for _ in range(5):
            assert search_web("alice", "q", idempotency_key="k1") == "results for q"
        search_web("alice", "q", idempotency_key="k2")  # attempt 2, rate slot 2: duplicates used none
        with pytest.raises(MaxAttemptsExceeded):
            search_web("alice", "q", idempotency_key="k3")
    assert effects == ["k1", "k2"]


async def test_the_breaker_sees_timeouts(store: MemoryStore) -> None:
    calls: list[int] = []

    @actguard.tool(circuit_breaker={"name": "search_api", "max_fails": 2, "reset_timeout": 60}, timeout=0.02)
    async def search(query: str) -> str:
        calls.append(1)
        await asyncio.Event().wait()
        return query

    for _ in range(2):
        with pytest.raises(ToolTimeoutError):
            await search("q")
    with pytest.raises(CircuitOpenError):
        await search("q")
    assert len(calls) == 2


def test_an_open_circuit_spends_no_rate_limit_slots(store: MemoryStore, clock: FakeClock) -> None:
    failing = [True]

    @actguard.tool(
        circuit_breaker={"name": "dep", "max_fails": 1, "reset_timeout": 10},
        rate_limit={"max_calls": 2, "period": 60},
    )
    def call() -> str:
        if failing[0]:
            failing[0] = False
            raise ConnectionError()
        return "ok"

    with pytest.raises(ConnectionError):
        call()  # rate slot 1
    for _ in range(5):
        with pytest.raises(CircuitOpenError):
            call()
    clock.advance(10)
    assert call() == "ok"  # rate slot 2: the refused calls spent none
    with pytest.raises(RateLimitExceeded):
        call()


def test_inner_refusal_releases_the_key_a_timeout_marks_it_unknown(store: MemoryStore, clock: FakeClock) -> None:
    effects: list[str] = []

    @actguard.tool(idempotent=True, rate_limit={"max_calls": 1, "period": 60})
    def send(idempotency_key: str) -> str:
        effects.append(idempotency_key)
        return "sent"

    with RunContext():
        send("a")
        with pytest.raises(RateLimitExceeded):
            send("b")  # refused before running: "b" is released...
        clock.advance(60)
        assert send("b") == "sent"  # ...so it runs now
    assert effects == ["a", "b"]

    import threading

    release = threading.Event()

    @actguard.tool(idempotent={"ttl_s": 30}, timeout=0.02)
    def slow(idempotency_key: str) -> str:
        release.wait(10)
        return "late"

    try:
        with RunContext():
            with pytest.raises(ToolTimeoutError):
                slow("k")
            with pytest.raises(IdempotencyOutcomeUnknown):
                slow("k")  # it may still be running: never repeated blindly
    finally:
        release.set()


def test_metadata_and_signature_survive_the_stack(store: MemoryStore) -> None:
    @actguard.tool(
        idempotent={"ttl_s": 600, "on_duplicate": "return"},
        max_attempts=3,
        rate_limit={"max_calls": 10, "period": 60, "scope": "user_id"},
        circuit_breaker={"name": "search_api", "max_fails": 3, "reset_timeout": 60},
        timeout=2.0,
    )
    def search_web(user_id: str, query: str, *, idempotency_key: str) -> str:
        """Search the web."""
        return query

    assert search_web.__name__ == "search_web" and search_web.__doc__ == "Search the web."
    assert str(inspect.signature(search_web)) == str(inspect.signature(inspect.unwrap(search_web)))
    assert list(inspect.signature(search_web).parameters) == ["user_id", "query", "idempotency_key"]
    assert typing.get_type_hints(search_web) == {"user_id": str, "query": str, "idempotency_key": str, "return": str}
    with RunContext():
        assert search_web("alice", "q", idempotency_key="r") == "q"


async def test_async_stack(store: MemoryStore) -> None:
    @actguard.tool(
        idempotent={"ttl_s": 600},
        max_attempts={"calls": 3},
        rate_limit={"max_calls": 10, "period": 60},
        circuit_breaker={"name": "async_api"},
        timeout={"seconds": 5},
    )
    async def fetch(*, idempotency_key: str) -> str:
        await asyncio.sleep(0)
        return idempotency_key

    assert inspect.iscoroutinefunction(fetch)
    async with RunContext():
        assert [await fetch(idempotency_key=k) for k in "aab"] == ["a", "a", "b"]


def test_bare_tool_and_no_guards(store: MemoryStore) -> None:
    def f(x: int) -> int:
        return x

    assert actguard.tool(f)(2) == 2
    assert actguard.tool()(f)(3) == 3


def test_store_argument_reaches_every_guard(store: MemoryStore) -> None:
    own = MemoryStore(clock=FakeClock())

    @actguard.tool(rate_limit={"max_calls": 1, "period": 60}, max_attempts=5, store=own)
    def f() -> None: ...

    with RunContext():
        f()
        actguard.set_default_store(MemoryStore())  # not used: the guards have their own store
        with pytest.raises(RateLimitExceeded):
            f()


def test_events_in_order(store: MemoryStore) -> None:
    @actguard.tool(
        idempotent=True,
        max_attempts=2,
        loop_guard=True,
        circuit_breaker={"name": "e"},
        rate_limit={"max_calls": 5, "period": 1},
    )
    def f(idempotency_key: str) -> None: ...

    with capture_events() as events, RunContext():
        f("k")
    names = [e["name"] for e in events.of(category="tool_guard")]
    assert names == ["idempotent", "max_attempts", "loop_guard", "circuit_breaker", "rate_limit"]
    assert GUARD_ORDER[2:7] == ("idempotent", "max_attempts", "loop_guard", "circuit_breaker", "rate_limit")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate_limit": {"max_calls": 1, "period": 1, "burst": 2}}, r"rate_limit.*unknown keys \['burst'\]"),
        ({"rate_limit": {"max_calls": 1}}, r"period"),
        ({"rate_limit": 5}, r"tool\(rate_limit=...\)"),
        ({"circuit_breaker": {"max_fails": 2}}, r"name"),
        ({"max_attempts": {"calls": 0}}, r"calls"),
        ({"max_attempts": "3"}, r"max_attempts"),
        ({"idempotent": {"on_duplicate": "skip"}}, r"on_duplicate"),
        ({"timeout": 0}, r"timeout\(seconds=...\)"),
        ({"timeout": {"secs": 1}}, r"unknown keys"),
        ({"store": "redis://"}, r"store"),
    ],
)
def test_bad_arguments_fail_before_the_function_is_seen(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        actguard.tool(**kwargs)


def test_idempotent_without_key_parameter_fails_at_decoration() -> None:
    with pytest.raises(ConfigError, match="idempotency_key"):

        @actguard.tool(idempotent=True)
        def f(x: int) -> None: ...


def test_prove_and_enforce_compose_with_the_guards(store: MemoryStore) -> None:
    from actguard.custody import RequireFact

    deleted: list[str] = []

    @actguard.tool(prove={"kind": "order_id", "extract": "id"}, rate_limit={"max_calls": 5, "period": 60})
    def list_orders(user_id: str) -> list[dict[str, str]]:
        return [{"id": "o1"}]

    @actguard.tool(enforce=[RequireFact("order_id", "order_id")], max_attempts=1, idempotent=True)
    def delete_order(order_id: str, idempotency_key: str) -> str:
        deleted.append(order_id)
        return f"deleted:{order_id}"

    with actguard.session("req-9", {"user_id": "alice"}), RunContext():
        with pytest.raises(actguard.GuardError) as info:
            delete_order("o1", "k1")  # refused before anything is consumed (enforce is outermost)
        assert info.value.code == "MISSING_FACT"
        assert list_orders("alice") == [{"id": "o1"}]
        assert delete_order("o1", "k1") == "deleted:o1"  # the one attempt max_attempts allows
        assert delete_order("o1", "k1") == "deleted:o1"  # a duplicate: answered from the first result
    assert deleted == ["o1"]


def test_bad_custody_arguments_fail_at_decoration() -> None:
    with pytest.raises(ConfigError, match="prove"):
        actguard.tool(prove={"kind": "order_id", "extract": "id", "extra": 1})
    with pytest.raises(ConfigError):
        actguard.tool(enforce=["not a rule"])
