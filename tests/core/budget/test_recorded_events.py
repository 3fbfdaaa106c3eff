"""One ``budget`` / ``llm_call`` / ``recorded`` event per LLM call, however many budgets it is charged to: summing the
events' ``usd`` counts each call once; every budget charged is named (``guards``, and ``charged`` events)."""

from __future__ import annotations

from typing import Any

import pytest

from actguard import BudgetGuard, LLMUsage
from actguard.budget import metering
from actguard.testing import capture_events

USAGE = LLMUsage("gpt-4o", "openai", input_tokens=1000, output_tokens=100)


class _Internal(BudgetGuard):
    """An adapter's bookkeeping guard (as LangChain's per-call scope)."""

    _internal = True


def _llm_calls(events: Any) -> list[tuple[str, Any, list[Any], float]]:
    return [
        (e["outcome"], e["payload"]["guard"], e["payload"]["guards"], e["payload"]["usd"])
        for e in events.of(category="budget", name="llm_call")
    ]


def test_a_nested_record_is_one_event_naming_every_guard_it_charged() -> None:
    with capture_events() as events, BudgetGuard(name="outer") as outer, BudgetGuard(name="inner") as inner:
        inner.record(USAGE, call_id="r-1")
    usd = inner.usd_used
    assert outer.usd_used == usd > 0
    assert _llm_calls(events) == [("recorded", "inner", ["inner", "outer"], usd)]


def test_a_call_charged_to_a_second_budget_is_charged_not_recorded_again() -> None:
    run = BudgetGuard(name="run")  # an adapter's run budget, outside the caller's guard
    with capture_events() as events, BudgetGuard(name="caller") as caller:
        caller.record(USAGE)  # the SDK meter's record: no call id (a stream through a proxy)
        run.record(USAGE, reported=True)
    usd = caller.usd_used
    assert run.usd_used == usd > 0
    assert _llm_calls(events) == [("recorded", "caller", ["caller"], usd), ("charged", "run", ["run"], usd)]
    recorded = events.of(category="budget", name="llm_call", outcome="recorded")
    assert sum(e["payload"]["usd"] for e in recorded) == pytest.approx(run.usd_used)


def test_an_internal_guard_is_never_named_and_reports_through_the_first_guard_the_user_can_see() -> None:
    with capture_events() as events:
        with _Internal() as alone:
            alone.record(USAGE)  # nobody's guard: nothing to report
        with BudgetGuard(name="caller") as caller, _Internal() as scope:
            scope.record(USAGE, reported=True)
    assert alone.usd_used == caller.usd_used == scope.usd_used > 0
    [event] = events.of(category="budget", name="llm_call")
    assert (event["outcome"], event["payload"]["guard"], event["payload"]["guards"]) == (
        "charged",
        "caller",
        ["caller"],
    )
    assert event["payload"]["usd_used"] == caller.usd_used


def test_an_estimate_charged_to_a_second_budget_is_charged() -> None:
    run = BudgetGuard(name="run")
    with capture_events() as events, pytest.warns(Warning), BudgetGuard(name="caller") as caller:
        metering.charge_estimate(caller, USAGE, reason="test: no usage reported")
        metering.charge_estimate(run, USAGE, reason="test: no usage reported", reported=True)
    assert [outcome for outcome, *_ in _llm_calls(events)] == ["recorded", "charged"]
    assert run.usd_used == caller.usd_used > 0


def test_already_reported_by_the_metering_log_or_the_guards_call_ids() -> None:
    guard = BudgetGuard()
    assert not metering.already_reported(None, "r-1", ())
    assert not metering.already_reported(guard, "r-1", ())
    assert not metering.already_reported(guard, None, ())
    assert metering.already_reported(guard, None, (metering.MeteredCall(USAGE, None),))
    guard.record(USAGE, call_id="r-1")  # the SDK meter recorded it, in a context this layer cannot see
    assert metering.already_reported(guard, "r-1", ())


async def test_arecord_passes_reported_on() -> None:
    with capture_events() as events:
        await BudgetGuard(name="run").arecord(USAGE, reported=True)
    assert [outcome for outcome, *_ in _llm_calls(events)] == ["charged"]
