"""Guards stay exact under contention on every store: memory, SQLite (one host) and Redis (a fleet).

The single-caller behaviour of each guard on each store is in ``tests/core/stores/test_guards_on_stores.py``; these
add real concurrency: threads and asyncio tasks racing on one window or one idempotency key.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from backends import Backend

import actguard
from actguard import (
    IdempotencyInProgress,
    RateLimitExceeded,
    RunContext,
)


async def test_rate_limit_async_tasks_exact(backend: Backend) -> None:
    @actguard.rate_limit(max_calls=7, period=60)
    async def ping() -> str:
        await asyncio.sleep(0)
        return "ok"

    results = await asyncio.gather(*(ping() for _ in range(30)), return_exceptions=True)
    assert results.count("ok") == 7


def test_rate_limit_16_threads_exact(backend: Backend) -> None:
    @actguard.rate_limit(max_calls=20, period=60)
    def ping() -> None: ...

    admitted: list[int] = []
    barrier = threading.Barrier(16)

    def worker() -> None:
        barrier.wait()
        for _ in range(4):
            try:
                ping()
                admitted.append(1)
            except RateLimitExceeded:
                pass

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 20


async def test_idempotent_async_in_progress(backend: Backend) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    @actguard.idempotent(ttl_s=60)
    async def job(idempotency_key: str) -> str:
        entered.set()  # the body runs only once the key is claimed
        await release.wait()
        return "done"

    async with RunContext():
        first = asyncio.create_task(job("k"))
        await entered.wait()
        with pytest.raises(IdempotencyInProgress):
            await job("k")
        release.set()
        assert await first == "done"
        assert await job("k") == "done"
