"""prove / enforce inside actguard.tool(...) and stacked with the other guards."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import actguard
from actguard import GuardError, MemoryStore, RequireFact, Threshold
from actguard.testing import FakeClock


def test_tool_with_prove_and_enforce(store: MemoryStore) -> None:
    @actguard.tool(prove={"kind": "order_id", "extract": "id"}, rate_limit={"max_calls": 10, "period": 60})
    def list_orders(user_id: str) -> list[dict[str, str]]:
        """List orders."""
        return [{"id": "o1"}]

    writes: list[str] = []

    @actguard.tool(
        enforce=[RequireFact("order_id", "order_id"), Threshold("amount", max=50)],
        max_attempts={"calls": 2},
        circuit_breaker={"name": "payments", "max_fails": 3, "reset_timeout": 60},
    )
    def refund(order_id: str, amount: float) -> str:
        """Refund an order."""
        writes.append(order_id)
        return f"refunded:{order_id}"

    assert refund.__doc__ == "Refund an order." and list(inspect.signature(refund).parameters) == [
        "order_id",
        "amount",
    ]
    with actguard.RunContext(), actguard.session("s1", {"user_id": "alice"}):
        list_orders("alice")
        with pytest.raises(GuardError, match="MISSING_FACT"):
            refund("o9", 10)
        with pytest.raises(GuardError, match="THRESHOLD_EXCEEDED"):
            refund("o1", 500)
        # refused calls ran nothing and consumed no attempt (enforce is the outermost layer)
        assert refund("o1", 10) == "refunded:o1"
        assert refund("o1", 20) == "refunded:o1"
        with pytest.raises(actguard.MaxAttemptsExceeded):
            refund("o1", 30)
    assert writes == ["o1", "o1"]


def test_tool_passes_its_store_to_custody(clock: FakeClock) -> None:
    own = MemoryStore(clock=clock)

    @actguard.tool(prove={"kind": "k", "extract": "id"}, store=own)
    def read() -> dict[str, str]:
        return {"id": "x"}

    with actguard.session("s1"):
        read()
    assert own.facts_missing(actguard.session("s1").namespace, "k", ["x"]) == []


def test_tool_rejects_bad_custody_options() -> None:
    with pytest.raises(actguard.ConfigError, match="on_too_many"):
        actguard.tool(prove={"kind": "k", "extract": "id", "on_too_many": "nope"})
    with pytest.raises(actguard.ConfigError, match="rules"):
        actguard.tool(enforce=[])


async def test_stacked_decorators_async(store: MemoryStore) -> None:
    @actguard.enforce([RequireFact("order_id", "order_id")])
    @actguard.rate_limit(max_calls=5, period=60)
    async def cancel(order_id: str) -> str:
        return "cancelled"

    @actguard.prove(kind="order_id", extract="id")
    @actguard.timeout(5)
    async def list_orders() -> list[dict[str, Any]]:
        return [{"id": "o1"}]

    async with actguard.session("s1", {"user_id": "alice"}):
        await list_orders()
        assert await cancel(order_id="o1") == "cancelled"
        with pytest.raises(GuardError):
            await cancel("o2")
