"""reporting.subscribe(): raw emit() arguments, no envelope, isolated failures, and the "someone listens" gate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import actguard
from actguard import BudgetGuard, LLMUsage, reporting
from actguard.testing import capture_events

Call = tuple[str, str, str, "str | None", "str | None", "str | None", "Mapping[str, Any] | None"]


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Call] = []

    def __call__(
        self,
        category: str,
        name: str,
        outcome: str,
        tool: str | None,
        run_id: str | None,
        user_id: str | None,
        payload: Mapping[str, Any] | None,
    ) -> None:
        self.calls.append((category, name, outcome, tool, run_id, user_id, payload))


def test_a_subscriber_gets_emits_arguments_as_given() -> None:
    seen = Recorder()
    reporting.subscribe(seen)
    try:
        with actguard.RunContext(run_id="req-1", user_id="alice"):
            reporting.emit("tool_guard", "rate_limit", "blocked", tool="send_email", payload={"limit": 1})
    finally:
        reporting.unsubscribe(seen)
    assert ("tool_guard", "rate_limit", "blocked", "send_email", None, None, {"limit": 1}) in seen.calls
    assert reporting._sinks == ()


def test_subscribers_and_sinks_both_receive_and_a_failing_one_starves_nobody() -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("observer on fire")

    seen = Recorder()
    reporting.subscribe(broken)
    reporting.subscribe(seen)
    try:
        with capture_events() as events:
            reporting.emit("custody", "enforce", "allowed", tool="refund")
    finally:
        reporting.unsubscribe(broken)
        reporting.unsubscribe(seen)
    assert [c[:4] for c in seen.calls] == [("custody", "enforce", "allowed", "refund")]
    assert [(e["name"], e["outcome"]) for e in events] == [("enforce", "allowed")]


def test_a_budget_reports_its_calls_to_a_subscriber_alone() -> None:
    seen = Recorder()
    reporting.subscribe(seen)
    try:
        with BudgetGuard() as guard:
            guard.record(LLMUsage("gpt-4o", "openai", input_tokens=10, output_tokens=5), call_id="r-1")
    finally:
        reporting.unsubscribe(seen)
    [call] = [c for c in seen.calls if c[1] == "llm_call"]
    assert call[2] == "recorded" and call[6] is not None and call[6]["call_id"] == "r-1"


def test_unsubscribe_is_idempotent_and_leaves_sinks_alone() -> None:
    seen = Recorder()
    with capture_events() as events:
        reporting.subscribe(seen)
        reporting.unsubscribe(seen)
        reporting.unsubscribe(seen)
        reporting.emit("tool_guard", "timeout", "allowed")
    assert seen.calls == [] and len(events) == 1
    assert reporting._sinks == ()
