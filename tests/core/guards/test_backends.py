"""The guards behave the same on every store: memory, SQLite (one host) and Redis (a fleet)."""

from __future__ import annotations

import asyncio
import threading

import pytest

import actguard
from actguard import (
    CircuitOpenError,
    IdempotencyInProgress,
    IdempotencyOutcomeUnknown,
    MaxAttemptsExceeded,
    RateLimitExceeded,
    RunContext,
)

from .conftest import Backend


def test_rate_limit(backend: Backend) -> None:
    @actguard.rate_limit(max_calls=2, period=60, scope="user_id")
    def send(user_id: str) -> str:
        return user_id

    send("alice")
    backend.advance(30)
    send("alice")
    with pytest.raises(RateLimitExceeded) as info:
        send("alice")
    assert info.value.retry_after == pytest.approx(30, abs=0.5)
    assert send("bob") == "bob"
    backend.advance(31)
    assert send("alice") == "alice"


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


async def test_circuit_breaker_sync_and_async_share_the_circuit(backend: Backend) -> None:
    down = [True]

    @actguard.circuit_breaker(name="postgres", max_fails=2, reset_timeout=10)
    def write(order_id: str) -> str:
        if down[0]:
            raise ConnectionError("refused")
        return order_id

    @actguard.circuit_breaker(name="postgres", max_fails=2, reset_timeout=10)
    async def read(order_id: str) -> str:
        return order_id

    for _ in range(2):
        with pytest.raises(ConnectionError):
            write("o1")
    with pytest.raises(CircuitOpenError):
        await read("o1")
    backend.advance(10)
    down[0] = False
    assert await read("o1") == "o1"  # the probe closes it
    assert write("o2") == "o2"


async def test_max_attempts_and_idempotent(backend: Backend) -> None:
    effects: list[str] = []
    fail = [RuntimeError("half done")]

    @actguard.tool(idempotent={"ttl_s": 100}, max_attempts=3)
    def create_invoice(amount_cents: int, *, idempotency_key: str) -> dict[str, object]:
        if idempotency_key == "bad" and fail:
            raise fail.pop()
        effects.append(idempotency_key)
        return {"id": f"inv-{len(effects)}", "amount": amount_cents}

    with RunContext():
        first = create_invoice(5000, idempotency_key="k1")
        assert create_invoice(5000, idempotency_key="k1") == first == {"id": "inv-1", "amount": 5000}
        with pytest.raises(RuntimeError):
            create_invoice(1, idempotency_key="bad")
        with pytest.raises(IdempotencyOutcomeUnknown):
            create_invoice(1, idempotency_key="bad")
        create_invoice(1, idempotency_key="k2")
        with pytest.raises(MaxAttemptsExceeded):
            create_invoice(1, idempotency_key="k3")
    assert effects == ["k1", "k2"]


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
