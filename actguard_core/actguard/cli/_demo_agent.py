"""The demo's support agent: four guarded tools and a plain tool-calling loop on the OpenAI SDK."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import actguard
from actguard.budget import landing_note
from actguard.exceptions import ActGuardError, BudgetExceededError

WAREHOUSE = {"up": False}  # the flaky dependency behind check_stock
REFUNDS: list[str] = []  # side effects of refund_order
ORDERS = {"alice": [{"id": "o1", "total_cents": 4200}, {"id": "o2", "total_cents": 1500}]}


def reset() -> None:
    """Put the demo's world back as it starts: the warehouse down, no refund issued."""
    WAREHOUSE["up"] = False
    REFUNDS.clear()


@actguard.prove(kind="order_id", extract="id")
def list_orders(user_id: str) -> list[dict[str, Any]]:
    """List the user's orders."""
    return ORDERS.get(user_id, [])


@actguard.enforce([actguard.RequireFact("order_id", "order_id", hint="call list_orders first")])
@actguard.idempotent(ttl_s=600)
def refund_order(order_id: str, *, idempotency_key: str) -> str:
    """Refund an order (a side effect: it must happen at most once)."""
    REFUNDS.append(order_id)
    return f"refund r{len(REFUNDS)} issued for {order_id}"


@actguard.rate_limit(max_calls=2, period=60, scope="user_id")
def send_email(user_id: str, subject: str) -> str:
    """Email the user."""
    return f"email {subject!r} sent to {user_id}"


@actguard.circuit_breaker(name="warehouse", max_fails=2, reset_timeout=30)
def check_stock(sku: str) -> str:
    """Ask the warehouse how many units of a SKU are in stock."""
    if not WAREHOUSE["up"]:
        raise ConnectionError("warehouse API unreachable")
    return f"{sku}: 7 in stock"


@actguard.max_attempts(calls=10)
def search_kb(query: str) -> str:
    """Search the help-centre articles."""
    return f"3 articles about {query!r}"


@actguard.loop_guard(max_repeats=2)
def track_parcel(parcel_id: str) -> str:
    """Where a parcel is now."""
    return f"parcel {parcel_id}: at the depot, out for delivery tomorrow"


TOOLS: dict[str, Callable[..., Any]] = {
    f.__name__: f for f in (list_orders, refund_order, send_email, check_stock, search_kb, track_parcel)
}


def _schema(name: str, description: str, **params: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {p: {"type": t} for p, t in params.items()},
                "required": list(params),
            },
        },
    }


TOOL_SCHEMAS = [
    _schema("list_orders", "List the user's orders.", user_id="string"),
    _schema("refund_order", "Refund an order.", order_id="string", idempotency_key="string"),
    _schema("send_email", "Email the user.", user_id="string", subject="string"),
    _schema("check_stock", "Units in stock for a SKU.", sku="string"),
    _schema("search_kb", "Search help-centre articles.", query="string"),
    _schema("track_parcel", "Where a parcel is now.", parcel_id="string"),
]


def call_tool(name: str, arguments: str) -> tuple[str, str]:
    """Run one tool call; return (status, text for the model). Recoverable refusals become text for the model."""
    tool = TOOLS.get(name)
    if tool is None:
        return "error", f"unknown tool {name!r}"
    try:
        args = json.loads(arguments or "{}")
        result = tool(**args)
        return "ok", result if isinstance(result, str) else json.dumps(result)
    except BudgetExceededError:
        raise
    except ActGuardError as exc:
        return "refused", exc.to_prompt()
    except Exception as exc:  # a failing tool is reported to the model, as agent frameworks do
        return "error", f"{type(exc).__name__}: {exc}"


def run_agent(client: Any, model: str, user: str, request: str, say: Callable[[str], None]) -> str:
    """A minimal tool-calling loop: ask the model, run the tools it asks for, repeat until it answers."""
    system = f"You are a support agent for the customer {user!r}. Use the tools; be brief."
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system},
        {"role": "user", "content": request},
    ]
    told = False
    for _ in range(12):
        # Soft landing: once the budget warned (warn_at), each request ends with a note telling the model to finish.
        note = landing_note()
        if note is not None and not told:
            told = True
            say(f"  note to the model: {_short(note, _WIDTH - 21)}")
        sent = messages if note is None else [*messages, {"role": "system", "content": note}]
        response = client.chat.completions.create(model=model, messages=sent, tools=TOOL_SCHEMAS)
        message = response.choices[0].message
        if not message.tool_calls:
            return str(message.content or "")
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            status, text = call_tool(call.function.name, call.function.arguments)
            head = f"  {call.function.name}({_args(call.function.arguments)}) -> {status}: "
            say(head + _short(text, max(30, _WIDTH - len(head))))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": text})
    return "(stopped after 12 turns)"


_WIDTH = 110  # the demo's lines fit a terminal this wide


def _args(arguments: str) -> str:
    try:
        args = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return _short(arguments, 40)
    if not isinstance(args, dict):
        return _short(arguments, 40)
    return ", ".join(f"{key}={json.dumps(value)}" for key, value in args.items())


def _short(text: str, width: int = 64) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."
