"""The store contract of ``loop_observe`` (loop_guard's one operation), on memory, SQLite and Redis, sync and async."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
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


_WORKER = """
import json, sys, actguard
kind, where = sys.argv[1], sys.argv[2]
store = actguard.SQLiteStore(where) if kind == "sqlite" else actguard.RedisStore(where, prefix=sys.argv[3])
sys.stdin.readline()  # every process starts together
print(json.dumps([store.loop_observe("run", "A", 4, 3600).seen for _ in range(50)]))
"""


def test_counts_are_exact_across_processes(tmp_path: Path, redis_server: Any) -> None:
    for args in (["sqlite", str(tmp_path / "loops.db")], ["redis", redis_server.url, f"mp-{uuid.uuid4().hex[:6]}"]):
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            for _ in range(4)
        ]
        for worker in workers:  # released together once all are started
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        outputs = [w.communicate(timeout=120)[0] for w in workers]
        seen = sorted(n for out in outputs for n in json.loads(out))
        assert seen == list(range(1, 201)), args  # 4 processes x 50 calls, no count lost or repeated
