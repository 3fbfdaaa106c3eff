"""When the store cannot be reached: StoreUnavailable (never a raw driver error), the fail-open policy, recovery."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import actguard
from actguard.reporting import add_sink, remove_sink
from actguard.testing import FakeClock

# Every operation, with arguments; the guard kind it serves decides whether it may fail open.
OPERATIONS: list[tuple[str, tuple[Any, ...], dict[str, Any], str | None]] = [
    ("hit_window", ("k", 5, 60), {}, "rate_limit"),
    ("breaker_acquire", ("b", 60), {}, "circuit_breaker"),
    (
        "breaker_record",
        ("b",),
        {"success": False, "probe": True, "max_fails": 3, "reset_timeout": 60},
        "circuit_breaker",
    ),
    ("breaker_release", ("b",), {"probe": True}, "circuit_breaker"),
    ("breaker_snapshot", ("b", 60), {}, "circuit_breaker"),
    ("incr", ("c", 60), {}, None),
    ("idem_claim", ("i", 60), {}, None),
    ("idem_complete", ("i", {"ok": 1}, 60), {}, None),
    ("idem_release", ("i",), {}, None),
    ("idem_mark_unknown", ("i", 60), {}, None),
    ("facts_add", ("ns", "order_id", ["o1"], 60), {}, None),
    ("facts_missing", ("ns", "order_id", ["o1"]), {}, None),
    ("facts_clear", ("ns",), {}, None),
    ("spend_add", ("alice", 0.1, 10, 60), {}, None),
    ("spend_get", ("alice",), {}, None),
]
ALLOWED = {
    "hit_window": actguard.stores.WindowDecision(True, 0, 0.0),
    "breaker_acquire": actguard.stores.BreakerDecision(True, False, 0.0, 0),
    "breaker_record": actguard.stores.BreakerSnapshot("closed", 0, 0.0),
    "breaker_release": None,
    "breaker_snapshot": actguard.stores.BreakerSnapshot("closed", 0, 0.0),
}


@pytest.fixture
def events() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    add_sink(seen.append)
    yield seen
    remove_sink(seen.append)


READS = {"breaker_acquire", "breaker_snapshot", "facts_missing", "spend_get"}  # SQLite answers these under a lock


async def check_operations(
    closed: actguard.Store,
    opened: actguard.Store,
    backend: str,
    driver_error: type[BaseException],
    events: list[dict[str, Any]],
    skip: set[str] = frozenset(),  # type: ignore[assignment]
) -> None:
    """Every operation raises StoreUnavailable on ``closed``; on ``opened`` (fail_open=True) rate limits and
    breakers answer "allowed" and everything else still raises."""
    for op, args, kwargs, kind in OPERATIONS:
        if op in skip:
            continue
        for name in (op, "a" + op):
            with pytest.raises(actguard.StoreUnavailable) as info:
                result = getattr(closed, name)(*args, **kwargs)
                if name.startswith("a"):
                    await result
            err = info.value
            assert (err.store, err.operation) == (backend, op)
            assert isinstance(err.cause, driver_error), err.cause
            assert isinstance(err, ConnectionError)
            assert isinstance(err.__cause__, driver_error)
        for name in (op, "a" + op):
            if kind is None:  # budgets, idempotency, counters, facts: always closed
                with pytest.raises(actguard.StoreUnavailable):
                    result = getattr(opened, name)(*args, **kwargs)
                    if name.startswith("a"):
                        await result
            else:
                result = getattr(opened, name)(*args, **kwargs)
                if name.startswith("a"):
                    result = await result
                assert result == ALLOWED[op]
    outcomes = {(e["category"], e["name"], e["outcome"]) for e in events}
    assert ("store", "hit_window", "fail_open") in outcomes
    assert ("store", "idem_claim", "unavailable") in outcomes


async def test_sqlite_write_lock_timeout_is_unavailable_and_recovers(
    tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    path = tmp_path / "locked.db"
    clock = FakeClock()
    closed = actguard.SQLiteStore(path, timeout=0.01, clock=clock)
    opened = actguard.SQLiteStore(path, timeout=0.01, fail_open=True, clock=clock)
    closed.breaker_record("b", success=False, probe=False, max_fails=1, reset_timeout=60)
    clock.advance(60)  # a probe is due: breaker_acquire must write
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock longer than `timeout`
    try:
        await check_operations(
            closed, opened, "sqlite", sqlite3.OperationalError, events, skip=READS - {"breaker_acquire"}
        )
        # WAL: readers are never blocked by a writer
        assert closed.spend_get("alice") == actguard.stores.SpendTotals(0.0, 0)
        assert closed.facts_missing("ns", "order_id", ["o1"]) == ["o1"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # the same store objects work again once the lock is gone, without being rebuilt
    assert closed.hit_window("k", 5, 60).allowed
    assert closed.idem_claim("fresh", 60).status == "claimed"
    closed.close()
    opened.close()


def test_sqlite_unopenable_path_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(actguard.StoreUnavailable, match="sqlite store unavailable during open"):
        actguard.SQLiteStore(tmp_path / "missing-dir" / "x.db")
    (tmp_path / "junk.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(actguard.StoreUnavailable) as info:
        actguard.SQLiteStore(tmp_path / "junk.db")
    assert isinstance(info.value.cause, sqlite3.DatabaseError)


async def test_redis_unreachable_is_unavailable(events: list[dict[str, Any]], needs_redis: None) -> None:
    import redis
    from redis_server import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    closed, opened = actguard.RedisStore(url), actguard.RedisStore(url, fail_open=True)
    await check_operations(closed, opened, "redis", redis.exceptions.ConnectionError, events)
    await closed.aclose()
    await opened.aclose()


async def test_redis_stopped_mid_run_then_back_recovers_without_restarting(own_redis_server: Any) -> None:
    server = own_redis_server
    store = actguard.RedisStore(server.url, prefix="recovery")

    @actguard.rate_limit(max_calls=100, period=3600, store=store)
    def search(query: str) -> str:
        return f"results for {query}"

    assert store.hit_window("k", 3, 3600).allowed
    assert (await store.ahit_window("k", 3, 3600)).allowed
    assert search("a") == "results for a"
    server.stop()
    with pytest.raises(actguard.StoreUnavailable) as info:
        search("b")  # the guard fails closed: the tool does not run
    assert info.value.operation == "hit_window"
    with pytest.raises(actguard.StoreUnavailable):
        store.hit_window("k", 3, 3600)
    with pytest.raises(actguard.StoreUnavailable):
        await store.ahit_window("k", 3, 3600)
    with pytest.raises(actguard.StoreUnavailable):
        store.spend_add("alice", 1.0, 1, None)
    server.start()  # same port; a fresh server (no persistence): the scripts are reloaded on first use
    assert store.hit_window("k", 3, 3600) == actguard.stores.WindowDecision(True, 1, 0.0)
    assert (await store.ahit_window("k", 3, 3600)).count == 2
    assert store.spend_add("alice", 1.0, 1, None).tokens == 1
    assert search("c") == "results for c"
    await store.aclose()


def test_guards_follow_the_store_policy(needs_redis: None) -> None:
    from redis_server import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"

    @actguard.rate_limit(max_calls=1, period=60, store=actguard.RedisStore(url))
    def closed() -> str:
        return "ran"

    @actguard.rate_limit(max_calls=1, period=60, store=actguard.RedisStore(url, fail_open=["rate_limit"]))
    def opened() -> str:
        return "ran"

    @actguard.idempotent(ttl_s=60, store=actguard.RedisStore(url, fail_open=True))
    def pay(*, idempotency_key: str) -> str:
        return "paid"

    with pytest.raises(actguard.StoreUnavailable):
        closed()
    assert [opened(), opened()] == ["ran", "ran"]  # unenforced while Redis is away, by choice
    with actguard.RunContext(), pytest.raises(actguard.StoreUnavailable):
        pay(idempotency_key="k")  # idempotency always fails closed: the payment does not run


def test_store_arguments_are_checked(needs_redis: None) -> None:
    with pytest.raises(actguard.ConfigError, match="prefix"):
        actguard.RedisStore("redis://localhost", prefix="a{b}")
    with pytest.raises(actguard.ConfigError, match=r"fail_open.*'rate_limit', 'circuit_breaker'"):
        actguard.RedisStore("redis://localhost", fail_open=["budget"])
    with pytest.raises(actguard.ConfigError, match="serializer"):
        actguard.RedisStore("redis://localhost", serializer="yaml")  # type: ignore[arg-type]
    with pytest.raises(actguard.ConfigError, match="url_or_client"):
        actguard.RedisStore(42)  # type: ignore[arg-type]
    with pytest.raises(actguard.ConfigError, match="MemoryStore"):
        actguard.SQLiteStore(":memory:")
    with pytest.raises(actguard.ConfigError, match="timeout"):
        actguard.SQLiteStore("x.db", timeout=0)


def test_redis_store_without_redis_py_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # `import redis` now fails as if it were not installed
    with pytest.raises(ImportError, match=r'pip install "actguard\[redis\]"'):
        actguard.RedisStore("redis://localhost")


def test_pickle_serializer_keeps_any_picklable_result(tmp_path: Path) -> None:
    store = actguard.SQLiteStore(tmp_path / "p.db", serializer="pickle")
    store.idem_claim("k", 60)
    store.idem_complete("k", (1, {2: b"x"}), 60)
    assert store.idem_claim("k", 60).result == (1, {2: b"x"})
    store.close()


def test_import_actguard_never_imports_redis_py() -> None:
    import subprocess

    code = (
        "import sys; sys.modules['redis'] = None\n"  # as if redis-py were not installed
        "import actguard\n"
        "assert actguard.RedisStore and actguard.SQLiteStore\n"
        "try:\n    actguard.RedisStore('redis://localhost')\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == 'RedisStore needs redis-py: pip install "actguard[redis]"'


def test_shared_budget_keeps_spend_the_store_could_not_take(own_redis_server: Any) -> None:
    """A call recorded while Redis is down is not lost: checks fail closed meanwhile, and the spend reaches the store
    once it is back."""
    server = own_redis_server
    store = actguard.RedisStore(server.url, prefix="pending")
    usage = actguard.LLMUsage(model="gpt-4o", provider="openai", input_tokens=900, output_tokens=100)
    with actguard.BudgetGuard(user_id="alice", token_limit=5_000, shared=True, window="1d", store=store) as guard:
        guard.record(usage, call_id="c1")
        assert store.spend_get("actguard:budget::alice").tokens == 1_000
        server.stop()
        assert guard.record(usage, call_id="c2") > 0  # the call happened: record() does not raise
        with pytest.raises(actguard.StoreUnavailable):
            guard.check()  # fail closed while the shared spend cannot be read
        server.start()  # a fresh server without persistence: only what actguard still held can arrive
        guard.check()
        assert store.spend_get("actguard:budget::alice").tokens == 1_000  # c2's spend, added on recovery
        assert guard.tokens_used == 2_000
