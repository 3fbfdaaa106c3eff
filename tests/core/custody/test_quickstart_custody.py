"""The quickstart's chain-of-custody examples, as written (plus the refusal it promises)."""

from __future__ import annotations

import pytest

import actguard
from actguard import MemoryStore


def test_chain_of_custody_session(store: MemoryStore) -> None:
    with actguard.session("req-123", {"user_id": "alice"}):
        ...


def test_prove_then_enforce_in_one_flow(store: MemoryStore) -> None:
    @actguard.prove(kind="order_id", extract="id")
    def list_orders(user_id: str) -> list[dict]:
        return [{"id": "o1"}]

    @actguard.enforce([actguard.RequireFact("order_id", "order_id")])
    def delete_order(order_id: str) -> str:
        return f"deleted:{order_id}"

    with actguard.session("req-9", {"user_id": "alice"}):
        list_orders("alice")
        delete_order("o1")

    # "If a write references an unproven id, enforce raises GuardError with code MISSING_FACT."
    with actguard.session("req-9", {"user_id": "alice"}), pytest.raises(actguard.GuardError) as info:
        delete_order("o9")
    assert info.value.code == "MISSING_FACT"
    assert "order_id 'o9' was not returned by a read tool in this session" in info.value.to_prompt()
    assert "list_orders" in info.value.to_prompt()
