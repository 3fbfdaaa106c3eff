from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from actguard import (
    ConfigError,
    ContextThreadPoolExecutor,
    MaxAttemptsExceeded,
    MemoryStore,
    MissingRuntimeContextError,
    RunContext,
    bind_context,
    max_attempts,
)
from actguard.testing import FakeClock, capture_events


def test_the_call_after_the_limit_is_refused(store: MemoryStore) -> None:
    ran: list[str] = []

    @max_attempts(calls=2)
    def lookup_customer(customer_id: str) -> str:
        ran.append(customer_id)
        return customer_id

    with RunContext(run_id="req-123"):
        lookup_customer("cus_1")
        lookup_customer("cus_2")
        with pytest.raises(MaxAttemptsExceeded) as info:
            lookup_customer("cus_3")
    err = info.value
    assert (err.limit, err.attempts, err.run_id, err.tool_name) == (2, 3, "req-123", "lookup_customer")
    assert ran == ["cus_1", "cus_2"]
    assert "maximum" in err.to_prompt()


def test_attempts_that_raised_count(store: MemoryStore) -> None:
    @max_attempts(calls=2)
    def flaky() -> None:
        raise ConnectionError()

    with RunContext():
        for _ in range(2):
            with pytest.raises(ConnectionError):
                flaky()
        with pytest.raises(MaxAttemptsExceeded):
            flaky()


def test_counts_are_per_run_and_per_tool(store: MemoryStore) -> None:
    @max_attempts(calls=1)
    def a() -> None: ...

    @max_attempts(calls=1)
    def b() -> None: ...

    with RunContext(run_id="outer"):
        a()
        b()  # another tool
        with RunContext(run_id="inner"):
            a()  # another run
            with pytest.raises(MaxAttemptsExceeded):
                a()
        with pytest.raises(MaxAttemptsExceeded):
            a()  # back in the outer run, its count kept


def test_outside_a_run_it_says_what_to_wrap(store: MemoryStore) -> None:
    @max_attempts(calls=1)
    def f() -> None: ...

    with pytest.raises(MissingRuntimeContextError, match="RunContext") as info:
        f()
    assert info.value.guard == "max_attempts"


def test_threads_see_the_run_only_when_it_is_carried(store: MemoryStore) -> None:
    @max_attempts(calls=5)
    def f() -> str:
        return "ok"

    errors: list[BaseException] = []

    def plain() -> None:
        try:
            f()
        except BaseException as exc:
            errors.append(exc)

    with RunContext():
        t = threading.Thread(target=plain)
        t.start()
        t.join()
        assert isinstance(errors[0], MissingRuntimeContextError)
        t = threading.Thread(target=bind_context(f))
        t.start()
        t.join()
        with ContextThreadPoolExecutor(2) as pool:
            assert pool.submit(f).result() == "ok"


def test_exact_under_16_threads_in_one_run(store: MemoryStore) -> None:
    @max_attempts(calls=50)
    def f() -> None: ...

    results: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    def worker() -> None:
        barrier.wait()
        for _ in range(10):
            try:
                f()
                ok = True
            except MaxAttemptsExceeded:
                ok = False
            with lock:
                results.append(ok)

    with RunContext():
        threads = [threading.Thread(target=bind_context(worker)) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results.count(True) == 50 and len(results) == 160


async def test_async_tasks_share_their_run(store: MemoryStore) -> None:
    @max_attempts(calls=10)
    async def f() -> str:
        await asyncio.sleep(0)
        return "ok"

    async with RunContext():
        results = await asyncio.gather(*(f() for _ in range(40)), return_exceptions=True)
    assert results.count("ok") == 10
    assert sum(isinstance(r, MaxAttemptsExceeded) for r in results) == 30


def test_counts_expire_after_ttl(store: MemoryStore, clock: FakeClock) -> None:
    @max_attempts(calls=1, ttl_s=100)
    def f() -> None: ...

    with RunContext():
        f()
        clock.advance(100)
        f()


def test_events(store: MemoryStore) -> None:
    @max_attempts(calls=1)
    def f() -> None: ...

    with capture_events() as events, RunContext(run_id="r"):
        f()
        with pytest.raises(MaxAttemptsExceeded):
            f()
    got = events.of(name="max_attempts")
    assert [e["outcome"] for e in got] == ["allowed", "blocked"] and got[1]["run_id"] == "r"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"calls": 0}, "calls"),
        ({"calls": "3"}, "calls"),
        ({"calls": True}, "calls"),
        ({"calls": 2, "ttl_s": 0}, "ttl_s"),
        ({"calls": 2, "store": "memory"}, "store"),
        ({}, "calls"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        max_attempts(**kwargs)


def test_bare_use_refused() -> None:
    with pytest.raises(ConfigError, match="needs arguments"):

        @max_attempts  # type: ignore[arg-type]
        def f() -> None: ...
