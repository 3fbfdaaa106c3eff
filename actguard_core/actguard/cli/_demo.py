"""``actguard demo``: a support agent on the real OpenAI SDK, talking to an embedded scripted model.

Shows each guard doing its job: a write of an unproven id blocked and then allowed after the read, a side effect
deduplicated, a rate limit, an open circuit and its recovery, a loop refused, and a budget that warns the model
(soft landing) before it stops the run. Ends with spend per user and the
guard decisions, both built from the events the guards emitted. Time is fast-forwarded with a fake clock instead of
sleeping, so the demo runs in about a second.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from typing import Any

import actguard
from actguard.cli import _demo_agent as agent
from actguard.cli._events import render, tally
from actguard.cli._scripted_model import Step, serve
from actguard.testing import FakeClock, capture_events

__all__ = ["run_demo"]


@dataclass(frozen=True)
class _Conversation:
    user: str
    usd_limit: float
    request: str
    narration: str
    script: list[Step]
    wait_s: float = 0.0  # time that passes before this conversation (fast-forwarded)
    warn_at: float | None = None  # the budget's soft limit


_REFUND = [
    Step(calls=(("refund_order", {"order_id": "o9", "idempotency_key": "refund-o9"}),)),
    Step(calls=(("list_orders", {"user_id": "alice"}),)),
    Step(calls=(("refund_order", {"order_id": "o1", "idempotency_key": "refund-o1"}),)),
    Step(calls=(("refund_order", {"order_id": "o1", "idempotency_key": "refund-o1"}),)),
    Step(text="Your latest order o1 is refunded (once)."),
]

CONVERSATIONS = [
    _Conversation(
        "alice",
        0.05,
        "Please refund order o9. Actually, I mean my latest order.",
        "custody: refunding an id the agent never read is blocked; after list_orders it goes through.\n"
        "    idempotent: the retried refund is answered from the first one, not repeated.",
        _REFUND,
    ),
    _Conversation(
        "bob",
        0.05,
        "Send me three status updates by email.",
        "rate_limit: at most 2 emails per user per minute.",
        [Step(calls=(("send_email", {"user_id": "bob", "subject": f"update {i}"}),)) for i in (1, 2, 3)]
        + [Step(text="I sent you two updates; the third has to wait a minute.")],
    ),
    _Conversation(
        "carol",
        0.05,
        "Is sku-42 in stock?",
        "circuit_breaker: two failures open the 'warehouse' circuit; the next call fails fast.",
        [Step(calls=(("check_stock", {"sku": "sku-42"}),)) for _ in range(3)]
        + [Step(text="The warehouse system is down; please ask again in a minute.")],
    ),
    _Conversation(
        "carol",
        0.05,
        "Is sku-42 in stock now?",
        "30 s later the warehouse is back: one probe call succeeds and closes the circuit.",
        [Step(calls=(("check_stock", {"sku": "sku-42"}),)), Step(text="Yes: sku-42 has 7 units in stock.")],
        wait_s=30,
    ),
    _Conversation(
        "erin",
        0.05,
        "Where is my parcel p7?",
        "loop_guard: the same call with the same arguments a third time in one run is refused.",
        [Step(calls=(("track_parcel", {"parcel_id": "p7"}),)) for _ in range(3)]
        + [Step(text="Parcel p7 is at the depot and goes out for delivery tomorrow.")],
    ),
    _Conversation(
        "dave",
        0.001,
        "Research everything about refunds, exhaustively.",
        "BudgetGuard: $0.001 for this request; at 75% the model is told to finish, at 100% the loop is stopped.",
        [Step(calls=(("search_kb", {"query": f"refunds, part {i}"}),)) for i in range(1, 11)],
        warn_at=0.75,
    ),
]

_MOMENTS = {
    ("enforce", "blocked"): "custody: blocked, the agent never read this order id",
    ("idempotent", "intervened"): "idempotent: a duplicate, answered from the first call; no second refund",
    ("rate_limit", "blocked"): "rate_limit: blocked, 2 emails to this user already this minute",
    ("circuit_breaker", "opened"): "circuit_breaker: 2 failures, the 'warehouse' circuit is now open",
    ("circuit_breaker", "blocked"): "circuit_breaker: failed fast, the warehouse was not called",
    ("circuit_breaker", "closed"): "circuit_breaker: the probe succeeded, the circuit is closed again",
    ("loop_guard", "blocked"): "loop_guard: blocked, the agent is repeating itself; it answers instead",
    ("soft_limit", "warned"): "BudgetGuard: 75% of the budget spent (warn_at); the model is told to finish",
    ("budget_exceeded", "blocked"): "BudgetGuard: over the limit, the run is stopped",
}


def _moments(events: list[dict[str, Any]], seen: int) -> tuple[list[str], int]:
    notes = [f"      ^ {_MOMENTS[key]}" for e in events[seen:] if (key := (e["name"], e["outcome"])) in _MOMENTS]
    return notes, len(events)


def _client(live: bool, base_url: str | None) -> Any:
    import openai

    # Our own DefaultHttpxClient: openai < 1.55 builds one passing `proxies`, which httpx >= 0.28 no longer accepts.
    if live:
        return openai.OpenAI(http_client=openai.DefaultHttpxClient())
    # trust_env=False: the loopback server must not be reached through a proxy from the environment
    return openai.OpenAI(
        api_key="sk-offline-demo",
        base_url=base_url,
        max_retries=0,
        http_client=openai.DefaultHttpxClient(trust_env=False),
    )


def run_demo(*, live: bool, model: str, events_file: str | None = None) -> int:
    """Play the demo's conversations and print what each guard did; returns the exit code.

    Args:
        live: talk to the real OpenAI API (needs ``OPENAI_API_KEY``) instead of the embedded scripted model.
        model: the model name sent to the API.
        events_file: also append every event to this JSONL file (what ``actguard events FILE`` reads).
    """
    try:
        import openai
    except ImportError:
        print('actguard demo needs the OpenAI SDK: python -m pip install "actguard[demo]"', file=sys.stderr)
        return 1
    if live and not os.environ.get("OPENAI_API_KEY"):
        print(
            "actguard demo --live talks to the real OpenAI API and needs an API key: set OPENAI_API_KEY "
            "(or run 'actguard demo' without --live: offline, no key needed)",
            file=sys.stderr,
        )
        return 1

    try:
        sink = None if events_file is None else actguard.JsonlSink(events_file)
    except actguard.ConfigError as exc:
        print(f"actguard demo: {exc}", file=sys.stderr)
        return 1
    print(f"actguard demo: a support agent on the OpenAI SDK, {'LIVE, model ' + model if live else 'offline'}")
    clock = FakeClock()
    agent.reset()
    actguard.set_default_store(actguard.MemoryStore(clock=clock))
    try:
        with contextlib.ExitStack() as stack:
            base_url = (
                None if live else stack.enter_context(serve({c.request: c.script for c in CONVERSATIONS}, default=None))
            )
            client = _client(live, base_url)
            stack.callback(client.close)  # before the scripted model stops: no connection left open
            events = stack.enter_context(capture_events())
            if sink is not None:
                actguard.reporting.add_sink(sink)
                stack.callback(sink.close)
                stack.callback(actguard.reporting.remove_sink, sink)
            for conversation in CONVERSATIONS:
                _play(conversation, client, model, clock, events)
    except openai.OpenAIError as exc:
        print(f"actguard demo: the OpenAI API call failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        actguard.set_default_store(None)
    decisions = [e for e in events if e["category"] in ("tool_guard", "custody", "budget", "run")]
    print()
    print(render(tally(decisions)))
    print(f"\nrefunds issued: {len(agent.REFUNDS)} ({', '.join(agent.REFUNDS) or 'none'})")
    return 0


def _play(conversation: _Conversation, client: Any, model: str, clock: FakeClock, events: list[dict[str, Any]]) -> None:
    if conversation.wait_s:
        clock.advance(conversation.wait_s)
        agent.WAREHOUSE["up"] = True
    print(f"\n== {conversation.user}: {conversation.request}")
    print(f"   ({conversation.narration})")
    seen = len(events)

    def say(line: str) -> None:
        nonlocal seen
        notes, seen = _moments(events, seen)
        print("\n".join([line, *notes]))

    guard = actguard.BudgetGuard(
        user_id=conversation.user, usd_limit=conversation.usd_limit, warn_at=conversation.warn_at
    )
    try:
        scope = {"user_id": conversation.user}
        with (
            actguard.RunContext(user_id=conversation.user),
            guard,
            actguard.session(f"demo-{conversation.user}", scope),
        ):
            answer = agent.run_agent(client, model, conversation.user, conversation.request, say)
        print(f"  agent: {answer}")
    except actguard.BudgetExceededError as exc:
        print(f"  stopped: {exc}")
        notes, seen = _moments(events, seen)
        print("\n".join(notes))
