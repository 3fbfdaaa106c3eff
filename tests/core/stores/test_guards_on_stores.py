"""The stateful guards behave the same on every store (memory, SQLite, Redis), sync and async.

The guards reach the store only through the Store operations, so these are the guard-level half of the contract:
what a user relies on, checked on each backend with the backend's own clock moved forward by the test.
"""

from __future__ import annotations

from typing import Any

import pytest

import actguard


async def test_rate_limit(backend: Any) -> None:
    @actguard.rate_limit(max_calls=2, period=60, scope="user_id")
    def send(user_id: str) -> str:
        return f"sent to {user_id}"

    @actguard.rate_limit(max_calls=2, period=60, scope="user_id")
    async def asend(user_id: str) -> str:
        return f"sent to {user_id}"

    assert [send("alice"), await asend("alice")] == ["sent to alice"] * 2
    assert send("alice") == "sent to alice"  # send and asend are different tools: separate windows
    with pytest.raises(actguard.RateLimitExceeded) as info:
        send("alice")
    assert info.value.retry_after == pytest.approx(60, abs=0.01)
    assert info.value.scope_value == "alice"
    assert send("bob") == "sent to bob"
    await asend("alice")
    with pytest.raises(actguard.RateLimitExceeded):
        await asend("alice")
    backend.advance(60)
    assert [send("alice"), await asend("alice")] == ["sent to alice"] * 2


async def test_circuit_breaker(backend: Any) -> None:
    healthy = False

    @actguard.circuit_breaker(name="postgres", max_fails=2, reset_timeout=30)
    def write(order: str) -> str:
        if not healthy:
            raise ConnectionError("postgres down")
        return order

    @actguard.circuit_breaker(name="postgres", max_fails=2, reset_timeout=30)
    async def awrite(order: str) -> str:
        return write.__wrapped__(order)  # type: ignore[attr-defined,no-any-return]

    with pytest.raises(ConnectionError):
        write("o1")
    with pytest.raises(ConnectionError):
        await awrite("o2")  # the async tool shares the circuit by name
    with pytest.raises(actguard.CircuitOpenError) as info:
        await awrite("o3")
    assert (info.value.failures, info.value.retry_after) == (2, pytest.approx(30, abs=0.01))
    with pytest.raises(actguard.CircuitOpenError):
        write("o3")
    backend.advance(30)
    healthy = True
    assert write("o4") == "o4"  # the probe succeeds and closes the circuit
    assert await awrite("o5") == "o5"


async def test_idempotent(backend: Any) -> None:
    runs: list[str] = []

    @actguard.idempotent(ttl_s=600)
    def create_invoice(user_id: str, amount: int, *, idempotency_key: str) -> dict[str, Any]:
        runs.append(idempotency_key)
        return {"invoice": f"in_{len(runs)}", "amount": amount}

    @actguard.idempotent(ttl_s=600, on_duplicate="raise")
    async def refund(order: str, *, idempotency_key: str) -> str:
        runs.append(idempotency_key)
        return "refunded"

    @actguard.idempotent(ttl_s=600)
    def charge(*, idempotency_key: str) -> None:
        runs.append(idempotency_key)
        raise TimeoutError("the payment provider did not answer")

    with actguard.RunContext(run_id="req-1"):
        first = create_invoice("alice", 5000, idempotency_key="inv-42")
        assert create_invoice("alice", 5000, idempotency_key="inv-42") == first == {"invoice": "in_1", "amount": 5000}
        assert await refund("o1", idempotency_key="r-1") == "refunded"
        with pytest.raises(actguard.DuplicateIdempotencyKey):
            await refund("o1", idempotency_key="r-1")
        with pytest.raises(TimeoutError):
            charge(idempotency_key="c-1")
        with pytest.raises(actguard.IdempotencyOutcomeUnknown):
            charge(idempotency_key="c-1")
    assert runs == ["inv-42", "r-1", "c-1"]
    backend.advance(600)
    with actguard.RunContext(run_id="req-1"):
        assert create_invoice("alice", 5000, idempotency_key="inv-42") == {"invoice": "in_4", "amount": 5000}


async def test_max_attempts(backend: Any) -> None:
    @actguard.max_attempts(calls=2)
    def lookup(customer: str) -> str:
        return customer

    @actguard.max_attempts(calls=1)
    async def alookup(customer: str) -> str:
        return customer

    with actguard.RunContext(run_id="run-a"):
        assert [lookup("c1"), lookup("c1"), await alookup("c1")] == ["c1"] * 3
        with pytest.raises(actguard.MaxAttemptsExceeded):
            lookup("c1")
        with pytest.raises(actguard.MaxAttemptsExceeded):
            await alookup("c1")
    with actguard.RunContext(run_id="run-b"):  # another run counts afresh
        assert lookup("c1") == "c1"


async def test_shared_budget(backend: Any) -> None:
    with actguard.BudgetGuard(user_id="alice", usd_limit=1.0, window="1d", shared=True) as first:
        first.add_cost("search", 0.6)
    async with actguard.BudgetGuard(user_id="alice", usd_limit=1.0, window="1d", shared=True) as second:
        second.check()  # 0.6 of 1.0 spent, by an earlier guard (another request, another worker)
        with pytest.raises(actguard.BudgetExceededError) as info:
            second.add_cost("search", 0.4)  # recorded, then refused: the shared limit is reached
        with pytest.raises(actguard.BudgetExceededError):
            second.check()
    assert info.value.used == pytest.approx(1.0)
    assert second.costs == {"search": pytest.approx(0.4)}
    backend.advance(86_400)  # the day's window is over
    with actguard.BudgetGuard(user_id="alice", usd_limit=1.0, window="1d", shared=True) as third:
        third.check()
        assert third.shared_usage().usd == 0.0


async def test_combined_tool(backend: Any) -> None:
    @actguard.tool(idempotent={"ttl_s": 600}, max_attempts={"calls": 3}, rate_limit={"max_calls": 10, "period": 60})
    async def book(room: str, *, idempotency_key: str) -> str:
        return f"booked {room}"

    with actguard.RunContext():
        assert await book("r1", idempotency_key="b-1") == "booked r1"
        assert await book("r1", idempotency_key="b-1") == "booked r1"
        assert await book("r2", idempotency_key="b-2") == "booked r2"
        assert await book("r3", idempotency_key="b-3") == "booked r3"  # the duplicate was not an attempt
        with pytest.raises(actguard.MaxAttemptsExceeded):
            await book("r4", idempotency_key="b-4")


async def test_idempotent_result_that_cannot_be_shared(backend: Any) -> None:
    runs = []

    class Invoice:  # not JSON-serialisable
        pass

    @actguard.idempotent(ttl_s=600)
    def create_invoice(*, idempotency_key: str) -> Invoice:
        runs.append(idempotency_key)
        return Invoice()

    with actguard.RunContext(run_id="req-1"):
        if backend.name == "memory":  # kept as the object itself
            assert create_invoice(idempotency_key="k") is create_invoice(idempotency_key="k")
        else:
            with pytest.raises(actguard.ConfigError, match="type Invoice"):
                create_invoice(idempotency_key="k")
            with pytest.raises(actguard.IdempotencyOutcomeUnknown):
                create_invoice(idempotency_key="k")
    assert runs == ["k"]


async def test_keys_and_scope_values_with_lone_surrogates(backend: Any) -> None:
    """A JSON tool argument may carry a lone surrogate; every store treats it like any other str."""
    runs: list[str] = []

    @actguard.idempotent(ttl_s=600)
    def pay(amount: int, *, idempotency_key: str) -> str:
        runs.append(idempotency_key)
        return f"paid {amount}"

    @actguard.rate_limit(max_calls=1, period=60, scope="user_id")
    def search(user_id: str) -> str:
        return user_id

    with actguard.RunContext(run_id="run-surrogate"):
        assert [pay(5, idempotency_key="k\ud800"), pay(5, idempotency_key="k\udc00")] == ["paid 5"] * 2
        assert pay(5, idempotency_key="k\ud800") == "paid 5"  # the stored result
    assert runs == ["k\ud800", "k\udc00"]
    assert [search("\ud800"), search("\udc00")] == ["\ud800", "\udc00"]
    with pytest.raises(actguard.RateLimitExceeded):
        search("\ud800")
