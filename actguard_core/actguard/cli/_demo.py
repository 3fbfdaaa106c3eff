"""``actguard demo``: a support agent on the real OpenAI SDK, talking to an embedded scripted model.

Shows each guard doing its job: a write of an unproven id blocked and then allowed after the read, a side effect
deduplicated, a rate limit, an open circuit and its recovery, and a budget stop. Ends with spend per user and the
guard decisions. Time is fast-forwarded with a fake clock instead of sleeping, so the demo runs in a second.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from typing import Any

import actguard
from actguard.cli._table import render_table
from actguard.testing import FakeClock


def _scripts() -> dict[str, list[Any]]:
    from actguard.cli._scripted_model import Step

    return {
        "[refund]": [
            Step(calls=(("refund_order", {"order_id": "o9", "idempotency_key": "refund-o9"}),)),
            Step(calls=(("list_orders", {"user_id": "alice"}),)),
            Step(calls=(("refund_order", {"order_id": "o1", "idempotency_key": "refund-o1"}),)),
            Step(calls=(("refund_order", {"order_id": "o1", "idempotency_key": "refund-o1"}),)),
            Step(text="Your order o1 has been refunded once."),
        ],
        "[email]": [Step(calls=(("send_email", {"user_id": "bob", "subject": f"update {i}"}),)) for i in (1, 2, 3)]
        + [Step(text="I sent you two updates; the third must wait.")],
        "[stock]": [Step(calls=(("check_stock", {"sku": "sku-42"}),)) for _ in range(3)]
        + [Step(text="The warehouse is down; I will check again later.")],
        "[stock again]": [
            Step(calls=(("check_stock", {"sku": "sku-42"}),)),
            Step(text="sku-42 has 7 units in stock."),
        ],
        "[research]": [Step(calls=(("search_kb", {"query": f"topic {i}"}),)) for i in range(10)],
    }


CONVERSATIONS = [
    ("alice", 0.05, "[refund] Please refund my order o9. Actually I mean my latest order."),
    ("bob", 0.05, "[email] Send me three status updates by email."),
    ("carol", 0.05, "[stock] Is sku-42 in stock?"),
    ("carol", 0.05, "[stock again] Is sku-42 in stock now?"),
    ("dave", 0.001, "[research] Research everything about refunds, exhaustively."),
]

NARRATION = {
    "[refund]": "custody: a refund of an id the agent never read is blocked; after list_orders it goes through, "
    "and the retried refund is deduplicated",
    "[email]": "rate_limit: at most 2 emails per user per minute",
    "[stock]": "circuit_breaker: two failures open the 'warehouse' circuit, the third call fails fast",
    "[stock again]": "30 seconds later the warehouse is back: one probe call closes the circuit",
    "[research]": "BudgetGuard: dave's request may spend $0.001; the loop is stopped when it is crossed",
}


def run_demo(*, live: bool, model: str) -> int:
    try:
        import openai
    except ImportError:
        print('actguard demo needs the OpenAI SDK: pip install "actguard[demo]"', file=sys.stderr)
        return 1
    from actguard.cli import _demo_agent as agent

    if live:
        if not os.environ.get("OPENAI_API_KEY"):
            print("actguard demo --live needs OPENAI_API_KEY set (it talks to the real API)", file=sys.stderr)
            return 1
        client: Any = openai.OpenAI()
    else:
        import httpx

        from actguard.cli._scripted_model import ScriptedModel

        scripted = ScriptedModel(_scripts())
        client = openai.OpenAI(
            api_key="sk-demo-offline",
            base_url="https://scripted.invalid/v1",
            http_client=httpx.Client(transport=scripted.transport()),
            max_retries=0,
        )

    clock = FakeClock()
    actguard.set_default_store(actguard.MemoryStore(clock=clock))
    decisions: Counter[tuple[str, str, str, str]] = Counter()

    def on_event(event: dict[str, Any]) -> None:
        if event.get("category") in ("tool_guard", "custody", "budget"):
            key = (str(event.get("user_id") or "-"), str(event.get("tool") or "-"), event["name"], event["outcome"])
            decisions[key] += 1

    actguard.reporting.add_sink(on_event)
    spend: list[tuple[str, str, int, float, str]] = []
    try:
        for user, usd_limit, request in CONVERSATIONS:
            tag = request.split("]")[0] + "]"
            if tag == "[stock again]":
                clock.advance(30)
                agent.WAREHOUSE["up"] = True
            print(f"\n== {user}: {request.split('] ', 1)[1]}")
            print(f"   ({NARRATION[tag]})")
            guard = actguard.BudgetGuard(user_id=user, usd_limit=usd_limit)
            outcome = "answered"
            try:
                with actguard.RunContext(user_id=user), actguard.session(f"demo-{user}", {"user_id": user}), guard:
                    answer = agent.run_agent(client, model, request, print)
                print(f"  agent: {answer}")
            except actguard.BudgetExceededError as exc:
                outcome = "budget stop"
                print(f"  stopped: {exc}")
            spend.append((user, f"${usd_limit:g}", guard.tokens_used, guard.usd_used, outcome))
    finally:
        actguard.reporting.remove_sink(on_event)
        actguard.set_default_store(None)

    print()
    print(render_table(["user", "limit", "tokens", "usd", "outcome"], spend, title="Spend per request"))
    print()
    rows = [[u, t, g, o, n] for (u, t, g, o), n in sorted(decisions.items())]
    print(render_table(["user", "tool", "guard", "outcome", "count"], rows, title="Guard decisions"))
    print(f"\nrefunds issued: {agent.REFUNDS} (the duplicate refund ran once)")
    return 0
