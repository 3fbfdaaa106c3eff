"""The store contract of ``loop_observe`` (loop_guard's one operation), on memory, SQLite and Redis, sync and async."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from actguard.stores import LoopStep


@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest, backend: Any) -> Callable[..., Any]:
    store = backend.store

    async def run(op: str, *args: Any) -> Any:
        if request.param == "async":
            return await getattr(store, "a" + op)(*args)
        return getattr(store, op)(*args)

    return run


async def test_counts_each_call_and_returns_the_recent_calls_oldest_first(backend: Any, call: Any) -> None:
    assert await call("loop_observe", "run-1", "A", 4, 100) == LoopStep(1, ())  # a first call: no history needed
    assert await call("loop_observe", "run-1", "B", 4, 100) == LoopStep(1, ())
    assert await call("loop_observe", "run-1", "A", 4, 100) == LoopStep(2, ("A", "B", "A"))
    assert await call("loop_observe", "run-1", "C", 4, 100) == LoopStep(1, ())
    assert await call("loop_observe", "run-1", "A", 4, 100) == LoopStep(3, ("B", "A", "C", "A"))  # the last 4
    assert await call("loop_observe", "run-2", "A", 4, 100) == LoopStep(1, ())  # runs are independent
    assert await call("loop_observe", "run-2", "A", 4, 100) == LoopStep(2, ("A", "A"))


async def test_a_guard_looking_further_back_sees_calls_a_shorter_one_recorded(backend: Any, call: Any) -> None:
    for entry in "ABCDEF":
        await call("loop_observe", "run", entry, 2, 100)
    assert await call("loop_observe", "run", "B", 6, 100) == LoopStep(2, tuple("BCDEFB"))


async def test_the_record_expires_after_the_runs_first_call(backend: Any, call: Any) -> None:
    await call("loop_observe", "run", "A", 4, 100)
    backend.advance(99)
    assert await call("loop_observe", "run", "A", 4, 100) == LoopStep(2, ("A", "A"))  # later calls do not extend it
    backend.advance(1)
    assert await call("loop_observe", "run", "A", 4, 100) == LoopStep(1, ())


async def test_entries_are_opaque_text(backend: Any, call: Any) -> None:
    odd = ['e"}', "c:e", "r", "", "ünï \\ '"]
    for entry in odd:
        assert (await call("loop_observe", "run", entry, 8, 100)).seen == 1
    assert await call("loop_observe", "run", "r", 8, 100) == LoopStep(2, (*odd, "r"))


async def test_counts_are_exact_under_threads(backend: Any) -> None:
    store, barrier, counts = backend.store, threading.Barrier(8), []

    def worker() -> None:
        barrier.wait()
        counts.extend(store.loop_observe("hot", "A", 4, 3600).seen for _ in range(5))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == list(range(1, 41))


async def test_counts_are_exact_under_tasks(backend: Any) -> None:
    steps = await asyncio.gather(*(backend.store.aloop_observe("hot", "A", 4, 3600) for _ in range(30)))
    assert sorted(step.seen for step in steps) == list(range(1, 31))
