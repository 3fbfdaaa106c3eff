"""emit(): the envelope, run context defaults, sink isolation, capture_events()."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import actguard
from actguard import reporting
from actguard.testing import capture_events

FIELDS = {"v", "id", "timestamp", "agent_id", "run_id", "user_id", "tool", "category", "name", "outcome", "payload"}


def test_no_sink_means_nothing_is_built_or_called() -> None:
    assert reporting._sinks == ()
    assert reporting.emit("tool_guard", "rate_limit", "allowed", payload={"x": object()}) is None


def test_envelope_has_every_documented_field_and_version() -> None:
    with capture_events() as events:
        reporting.emit("tool_guard", "rate_limit", "blocked", tool="send_email", payload={"limit": 5, "observed": 6})
    (event,) = events
    assert set(event) == FIELDS
    assert event["v"] == reporting.ENVELOPE_VERSION == 1
    assert event["category"] == "tool_guard" and event["name"] == "rate_limit" and event["outcome"] == "blocked"
    assert event["tool"] == "send_email" and event["payload"] == {"limit": 5, "observed": 6}
    assert event["run_id"] is None and event["user_id"] is None and event["agent_id"] is None
    assert isinstance(event["timestamp"], float)


def test_run_and_user_come_from_the_run_context_unless_given() -> None:
    with capture_events() as events, actguard.RunContext(run_id="req-1", user_id="alice"):
        reporting.emit("custody", "enforce", "allowed")
        reporting.emit("budget", "llm_call", "recorded", user_id="bob", run_id="other")
    by_name = {(e["name"], e["outcome"]): e for e in events}
    assert by_name[("enforce", "allowed")]["run_id"] == "req-1"
    assert by_name[("enforce", "allowed")]["user_id"] == "alice"
    assert by_name[("llm_call", "recorded")]["user_id"] == "bob"
    assert by_name[("llm_call", "recorded")]["run_id"] == "other"
    assert [e["name"] for e in events.of(category="run")] == ["run_start", "run_end"]


def test_a_thread_without_the_context_reports_no_run() -> None:
    with capture_events() as events, actguard.RunContext(run_id="req-1"):
        t = threading.Thread(target=reporting.emit, args=("tool_guard", "timeout", "allowed"))
        t.start()
        t.join()
    assert events.of(name="timeout")[0]["run_id"] is None


def test_payload_is_copied_and_ids_are_unique() -> None:
    payload: dict[str, Any] = {"n": 1}
    with capture_events() as events:
        for _ in range(100):
            reporting.emit("tool_guard", "max_attempts", "allowed", payload=payload)
        payload["n"] = 2
    assert all(e["payload"] == {"n": 1} for e in events)
    assert len({e["id"] for e in events}) == 100


def test_a_failing_sink_neither_raises_into_the_caller_nor_starves_other_sinks() -> None:
    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("sink bug")

    reporting.add_sink(broken)
    try:
        with capture_events() as events:
            reporting.emit("tool_guard", "rate_limit", "allowed")
    finally:
        reporting.remove_sink(broken)
    assert len(events) == 1


def test_agent_id_comes_from_configure() -> None:
    actguard.configure({"agent_id": "support-bot"})
    with capture_events() as events:
        reporting.emit("tool_guard", "rate_limit", "allowed")
    assert events[0]["agent_id"] == "support-bot"
    actguard.configure(None)
    with capture_events() as events:
        reporting.emit("tool_guard", "rate_limit", "allowed")
    assert events[0]["agent_id"] is None


def test_capture_filters_and_stops_capturing_after_the_block() -> None:
    with capture_events() as events:
        reporting.emit("tool_guard", "rate_limit", "allowed", tool="a")
        reporting.emit("tool_guard", "rate_limit", "blocked", tool="a")
        reporting.emit("tool_guard", "timeout", "intervened", tool="b")
    reporting.emit("tool_guard", "rate_limit", "allowed", tool="a")
    assert len(events) == 3
    assert [e["outcome"] for e in events.of(name="rate_limit", tool="a")] == ["allowed", "blocked"]
    assert events.of(outcome="intervened")[0]["tool"] == "b"
    assert reporting._sinks == ()


async def test_concurrent_tasks_report_their_own_runs() -> None:
    async def agent(run_id: str, user: str) -> None:
        async with actguard.RunContext(run_id=run_id, user_id=user):
            for _ in range(3):
                reporting.emit("tool_guard", "rate_limit", "allowed")
                await asyncio.sleep(0)

    with capture_events() as events:
        await asyncio.gather(agent("r-a", "alice"), agent("r-b", "bob"))
    decisions = events.of(category="tool_guard")
    assert len(decisions) == 6
    assert all((e["run_id"], e["user_id"]) in {("r-a", "alice"), ("r-b", "bob")} for e in decisions)
    assert sum(e["run_id"] == "r-a" and e["user_id"] == "alice" for e in decisions) == 3
