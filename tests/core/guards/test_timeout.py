from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import actguard
from actguard import ConfigError, RunContext, ToolTimeoutError, current_run, timeout
from actguard.testing import capture_events

WAIT = 10.0  # an upper bound for waits that end as soon as the condition holds


def test_sync_call_over_the_limit_raises_and_the_thread_is_abandoned() -> None:
    release = threading.Event()
    finished = threading.Event()

    @timeout(0.05)
    def hang() -> str:
        release.wait(WAIT)
        finished.set()
        return "late"

    with pytest.raises(ToolTimeoutError) as info:
        hang()
    assert (info.value.tool_name, info.value.timeout_s) == ("hang", 0.05)
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, actguard.ToolGuardError)
    assert not finished.is_set()  # still running in its own thread
    release.set()
    assert finished.wait(WAIT)  # ...until it returns by itself


def test_sync_result_and_exceptions_pass_through() -> None:
    @timeout(WAIT)
    def ok(x: int) -> int:
        return x * 2

    @timeout(WAIT)
    def boom() -> None:
        raise KeyError("k")

    @timeout(WAIT)
    def own_timeout() -> None:
        raise TimeoutError("the tool's own")

    assert ok(21) == 42
    with pytest.raises(KeyError):
        boom()
    with pytest.raises(TimeoutError, match="the tool's own") as info:
        own_timeout()
    assert not isinstance(info.value, ToolTimeoutError)


def test_worker_thread_sees_the_callers_run() -> None:
    @timeout(WAIT)
    def which_run() -> str | None:
        run = current_run()
        return run.run_id if run else None

    with RunContext(run_id="r-7"):
        assert which_run() == "r-7"
    assert which_run() is None


def test_hung_calls_do_not_starve_other_timeouts() -> None:
    release = threading.Event()

    @timeout(0.02)
    def hang() -> None:
        release.wait(WAIT)

    @timeout(WAIT)
    def quick() -> str:
        return "done"

    def caller() -> None:
        with pytest.raises(ToolTimeoutError):
            hang()

    try:
        callers = [threading.Thread(target=caller) for _ in range(64)]
        for t in callers:
            t.start()
        for t in callers:
            t.join()
        # 64 abandoned threads are still hung; a shared pool of any small size would now be full.
        assert quick() == "done"
    finally:
        release.set()


async def test_async_call_is_cancelled_at_the_limit() -> None:
    cleaned = asyncio.Event()

    @timeout(0.05)
    async def hang() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.set()

    with pytest.raises(ToolTimeoutError) as info:
        await hang()
    assert info.value.tool_name == "hang"
    assert cleaned.is_set()  # the coroutine was cancelled, not abandoned
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # our cancellation was consumed


async def test_async_result_own_timeout_and_outer_cancellation() -> None:
    @timeout(WAIT)
    async def ok() -> int:
        await asyncio.sleep(0)
        return 1

    @timeout(WAIT)
    async def own() -> None:
        raise TimeoutError("mine")

    started = asyncio.Event()

    @timeout(WAIT)
    async def hang() -> None:
        started.set()
        await asyncio.Event().wait()

    assert await ok() == 1
    with pytest.raises(TimeoutError, match="mine") as info:
        await own()
    assert not isinstance(info.value, ToolTimeoutError)
    task = asyncio.create_task(hang())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task  # a cancellation from outside stays a cancellation


def test_events_report_the_intervention() -> None:
    release = threading.Event()

    @timeout(0.02)
    def hang() -> None:
        release.wait(WAIT)

    with capture_events() as events, pytest.raises(ToolTimeoutError):
        hang()
    release.set()
    assert [e["outcome"] for e in events.of(name="timeout")] == ["allowed", "intervened"]


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf"), "1", True, None])
def test_bad_seconds(seconds: Any) -> None:
    with pytest.raises(ConfigError, match=r"timeout\(seconds=...\)"):
        timeout(seconds)


def test_generators_and_bare_use_refused() -> None:
    def gen() -> Any:
        yield 1

    async def agen() -> Any:
        yield 1

    for fn in (gen, agen):
        with pytest.raises(ConfigError, match="generator"):
            timeout(1)(fn)
    with pytest.raises(ConfigError, match="needs arguments"):
        timeout(gen)


async def test_a_tool_that_swallows_the_cancellation_keeps_its_result() -> None:
    @timeout(0.02)
    async def stubborn() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return "partial"
        return "never"

    assert await stubborn() == "partial"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)  # no cancellation left pending on the caller
