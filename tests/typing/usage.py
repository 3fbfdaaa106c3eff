"""Checked by the type checker (``mypy``, see pyproject), never run: decorators keep the wrapped types."""

from __future__ import annotations

from typing_extensions import assert_type

import actguard
from actguard import BudgetGuard, RunContext


@actguard.rate_limit(max_calls=5, period=60, scope="user_id")
def send_email(user_id: str, subject: str) -> str:
    return subject


@actguard.circuit_breaker(name="postgres", max_fails=3, reset_timeout=60)
async def write_order(order_id: str) -> None: ...


@actguard.timeout(1.5)
def slow() -> int:
    return 1


@actguard.max_attempts(calls=2)
def lookup(customer_id: str) -> dict[str, str]:
    return {}


@actguard.idempotent(ttl_s=600)
def create_invoice(user_id: str, amount_cents: int, *, idempotency_key: str) -> str:
    return "inv"


@actguard.prove(kind="order_id", extract="id")
def list_orders(user_id: str) -> list[dict[str, str]]:
    return [{"id": "o1"}]


@actguard.enforce([actguard.RequireFact("order_id", "order_id")])
def delete_order(order_id: str) -> str:
    return order_id


@actguard.tool(rate_limit={"max_calls": 10, "period": 60}, timeout=2.0)
def search(query: str) -> list[str]:
    return [query]


assert_type(send_email("alice", "hi"), str)
assert_type(slow(), int)
assert_type(lookup("c1"), dict[str, str])
assert_type(create_invoice("alice", 1, idempotency_key="k"), str)
assert_type(list_orders("alice"), list[dict[str, str]])
assert_type(delete_order("o1"), str)
assert_type(search("q"), list[str])


async def main() -> None:
    assert_type(await write_order("o1"), None)


with BudgetGuard(user_id="alice", usd_limit=0.05) as guard, RunContext() as run:
    assert_type(guard.usd_used, float)
    assert_type(guard.tokens_used, int)
    assert_type(run.run_id, str)


def lazily_imported_names_keep_their_types(error: actguard.BudgetExceededError) -> None:
    """Names `import actguard` loads on first use (module __getattr__) are still typed for the checker."""
    assert_type(actguard.__version__, str)
    assert_type(actguard.SQLiteStore(":memory:"), actguard.SQLiteStore)
    assert_type(actguard.JsonlSink("events.jsonl"), actguard.JsonlSink)
    assert_type(actguard.configure(events_file="events.jsonl"), actguard.config.Config | None)
    with actguard.ContextThreadPoolExecutor(2) as pool:
        assert_type(pool.submit(slow).result(), int)
    # actguard 0.1.15's names
    assert_type(error.tokens_used, int | None)
    kinds: frozenset[actguard.FailureKind] = actguard.FAIL_ON_DEFAULT | {actguard.FailureKind.TRANSPORT}
    actguard.circuit_breaker(name="dep", fail_on=kinds)
    actguard.shutdown(wait=False)
