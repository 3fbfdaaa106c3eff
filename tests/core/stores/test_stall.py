"""A Redis that stalls past the socket timeout (SIGSTOP, then SIGCONT) runs each command it was sent once, and the
guards count exactly: no store call runs twice, no idempotency key or budget reservation is left wedged.

The stalled command is still in the server's socket buffer when it resumes and then runs: these tests show the
client never sends it a second time, and that each guard's state afterwards is what one execution leaves. Redis
resumes half a timeout after the client gave up, which is when a client-side retry would be waiting on it; the
assertions hold whenever it resumes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import actguard

TIMEOUT = 0.25  # the store's socket timeout: each stalled call waits this long, then fails closed


class Stall:
    """Freezes the test's redis-server and lets it run again 1.5 timeouts later (joined by :meth:`end`)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.timer: threading.Timer | None = None

    def pause(self) -> None:
        self.server.pause()
        self.timer = threading.Timer(TIMEOUT * 1.5, self.server.resume)
        self.timer.start()

    def resume(self) -> None:
        assert self.timer is not None
        self.timer.join()


@pytest.fixture
def stalled(own_redis_server: Any) -> Iterator[tuple[Stall, actguard.RedisStore]]:
    store = actguard.RedisStore(own_redis_server.url, prefix="stall", timeout=TIMEOUT)
    yield Stall(own_redis_server), store
    store.close()


def test_rate_limit_counts_a_stalled_hit_once(stalled: tuple[Stall, actguard.RedisStore]) -> None:
    server, store = stalled
    runs: list[str] = []

    @actguard.rate_limit(max_calls=3, period=3600, store=store)
    def search(query: str) -> str:
        runs.append(query)
        return query

    search("warm")  # hit 1 (connection open, script loaded)
    server.pause()
    with pytest.raises(actguard.StoreUnavailable):
        search("stalled")  # fails closed: the tool does not run; the hit lands once Redis resumes (hit 2)
    server.resume()
    assert search("after") == "after"  # hit 3
    with pytest.raises(actguard.RateLimitExceeded):
        search("over")  # a retried hit would have refused "after" already
    assert runs == ["warm", "after"]


def test_max_attempts_counts_a_stalled_attempt_once(stalled: tuple[Stall, actguard.RedisStore]) -> None:
    server, store = stalled
    runs: list[str] = []

    @actguard.max_attempts(calls=3, store=store)
    def lookup(order: str) -> str:
        runs.append(order)
        return order

    with actguard.RunContext(run_id="run-stall"):
        lookup("warm")  # attempt 1
        server.pause()
        with pytest.raises(actguard.StoreUnavailable):
            lookup("stalled")  # attempt 2, counted once Redis resumes
        server.resume()
        lookup("after")  # attempt 3
        with pytest.raises(actguard.MaxAttemptsExceeded) as info:
            lookup("over")
    assert info.value.attempts == 4
    assert runs == ["warm", "after"]


def test_circuit_breaker_counts_a_stalled_failure_once(stalled: tuple[Stall, actguard.RedisStore]) -> None:
    server, store = stalled
    runs: list[str] = []

    @actguard.circuit_breaker(name="payments", max_fails=3, reset_timeout=3600, store=store)
    def charge(step: str) -> str:
        runs.append(step)
        if step == "stall":
            server.pause()  # the failure is recorded while Redis is frozen
        raise ConnectionError("payment API down")

    with pytest.raises(ConnectionError):
        charge("warm")  # failure 1
    with pytest.raises(actguard.StoreUnavailable):
        charge("stall")  # failure 2 lands once Redis resumes
    server.resume()
    with pytest.raises(ConnectionError):
        charge("after")  # failure 3 opens the circuit; a retried failure 2 would have opened it already
    with pytest.raises(actguard.CircuitOpenError) as info:
        charge("refused")
    assert info.value.failures == 3
    assert runs == ["warm", "stall", "after"]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_idempotent_claim_lost_in_a_stall_is_not_wedged(stalled: tuple[Stall, actguard.RedisStore], mode: str) -> None:
    server, store = stalled
    runs: list[str] = []

    @actguard.idempotent(ttl_s=3600, store=store)
    def pay(amount: int, *, idempotency_key: str) -> str:
        runs.append(idempotency_key)
        return f"paid {amount}"

    @actguard.idempotent(ttl_s=3600, store=store)
    async def apay(amount: int, *, idempotency_key: str) -> str:
        runs.append(idempotency_key)
        return f"paid {amount}"

    def call() -> str:
        return pay(5, idempotency_key="inv-1") if mode == "sync" else asyncio.run(apay(5, idempotency_key="inv-1"))

    with actguard.RunContext(run_id=f"run-{mode}"):
        server.pause()
        with pytest.raises(actguard.StoreUnavailable):
            call()  # the claim lands once Redis resumes, held by this caller's owner id
        server.resume()
        assert call() == "paid 5"  # the same caller takes its own claim: not IdempotencyInProgress for an hour
        assert call() == "paid 5"  # the stored result
    assert runs == ["inv-1"]


def test_add_cost_in_a_stall_is_charged_once(stalled: tuple[Stall, actguard.RedisStore]) -> None:
    server, store = stalled
    with actguard.BudgetGuard(user_id="alice", usd_limit=1.0, shared=True, window="1d", store=store) as guard:
        guard.add_cost("search", 0.25)
        server.pause()
        guard.add_cost("search", 0.25)  # times out: parked; the stalled settle still lands when Redis resumes
        server.resume()
        assert guard.shared_usage().usd == 0.5  # parked settle re-sent under the same op id: not added twice
    assert store.spend_get("actguard:budget::alice").usd == 0.5


def test_reservation_lost_in_a_stall_is_released_by_the_next_call(stalled: tuple[Stall, actguard.RedisStore]) -> None:
    server, store = stalled
    assert actguard.prices.lookup("gpt-4o", "openai") is not None  # loaded before the stall (the first load is slow)
    with actguard.BudgetGuard(user_id="bob", token_limit=10_000, shared=True, store=store) as guard:
        server.pause()
        with pytest.raises(actguard.StoreUnavailable):
            guard.check_call("gpt-4o", provider="openai", prompt_tokens=100, max_output_tokens=4_000)
        server.resume()  # the 4,100-token reservation has landed
        # 4,100 + 6,100 would not fit in 10,000: the lost reservation is released first
        guard.check_call("gpt-4o", provider="openai", prompt_tokens=100, max_output_tokens=6_000)
        guard.record(actguard.LLMUsage(model="gpt-4o", provider="openai", input_tokens=100, output_tokens=900))
        assert guard.shared_usage().tokens == 1_000
        guard.check_call("gpt-4o", provider="openai", prompt_tokens=100, max_output_tokens=8_900)  # 9,000 left
