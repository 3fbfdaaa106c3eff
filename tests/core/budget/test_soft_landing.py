"""Soft landing: BudgetGuard(warn_at=..., on_warn=...) warns once before its hard limit stops the run."""

from __future__ import annotations

import threading
from typing import Any

import openai
import pytest
from budget_fakes import LLMServer, chat_completion

import actguard
from actguard import BudgetExceededError, BudgetGuard, ConfigError, LLMUsage
from actguard.budget import landing_note
from actguard.testing import capture_events

CALL = LLMUsage("gpt-4o", "openai", input_tokens=100, output_tokens=0)  # 100 tokens


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"token_limit": 10, "warn_at": 0}, r"warn_at.*\(0, 1\)"),
        ({"token_limit": 10, "warn_at": 1}, r"warn_at.*\(0, 1\)"),
        ({"token_limit": 10, "warn_at": 1.5}, r"warn_at"),
        ({"token_limit": 10, "warn_at": float("nan")}, r"warn_at"),
        ({"token_limit": 10, "warn_at": True}, r"warn_at"),
        ({"token_limit": 10, "warn_at": "80%"}, r"warn_at"),
        ({"warn_at": 0.8}, r"usd_limit or a token_limit"),
        ({"token_limit": 10, "on_warn": print}, r"on_warn.*needs warn_at"),
        ({"token_limit": 10, "warn_at": 0.8, "on_warn": "log"}, r"on_warn.*callable"),
    ],
)
def test_bad_soft_limits_fail_at_construction(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        BudgetGuard(**kwargs)


def test_warns_once_when_spend_first_reaches_the_fraction_then_the_hard_limit_stops() -> None:
    calls: list[BudgetGuard] = []
    with capture_events() as events, BudgetGuard(token_limit=1000, warn_at=0.8, on_warn=calls.append) as guard:
        for i in range(7):
            guard.record(CALL, call_id=f"c{i}")
            guard.check()
        assert not guard.warned and landing_note() is None  # 700 of 1000
        guard.record(CALL, call_id="c7")  # 800: the soft limit
        assert guard.warned and calls == [guard]
        note = landing_note()
        assert note is not None and "80%" in note and "Finish with what you have" in note
        guard.check()  # still under the hard limit
        guard.record(CALL, call_id="c8")
        guard.check()
        guard.record(CALL, call_id="c9")  # 1000: the hard limit
        with pytest.raises(BudgetExceededError):
            guard.check()
    assert calls == [guard]  # once per guard
    warned = events.of(category="budget", name="soft_limit")
    assert len(warned) == 1
    assert warned[0]["outcome"] == "warned"
    assert warned[0]["payload"]["warn_at"] == 0.8 and warned[0]["payload"]["tokens_used"] == 800


def test_each_limit_has_its_own_threshold_and_add_cost_counts() -> None:
    with BudgetGuard(usd_limit=1.0, token_limit=10**9, warn_at=0.5) as guard:
        guard.add_cost("search", 0.4)
        guard.check()
        assert not guard.warned
        guard.add_cost("search", 0.1)
        guard.check()  # spend added without a record warns at the next check
        assert guard.warned


def test_nested_guards_warn_on_their_own_and_the_note_speaks_for_the_most_used() -> None:
    with BudgetGuard(token_limit=10_000, warn_at=0.9) as outer:
        with BudgetGuard(token_limit=200, warn_at=0.5) as inner:
            inner.record(CALL, call_id="a")
            assert inner.warned and not outer.warned
            assert "50%" in (landing_note() or "")
        assert landing_note() is None  # the inner guard is no longer active
        assert landing_note(inner) is not None  # an adapter's run budget, passed explicitly


def test_a_failing_callback_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def boom(guard: BudgetGuard) -> None:
        raise RuntimeError("callback bug")

    with BudgetGuard(token_limit=100, warn_at=0.5, on_warn=boom) as guard:
        guard.record(CALL, call_id="a")
    assert guard.warned
    assert "on_warn" in caplog.text


def test_warns_exactly_once_under_threads() -> None:
    calls: list[BudgetGuard] = []
    barrier = threading.Barrier(8)
    guard = BudgetGuard(token_limit=100_000, warn_at=0.5, on_warn=calls.append)

    def worker(n: int) -> None:
        barrier.wait()
        for i in range(100):
            guard.record(CALL, call_id=f"{n}-{i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert guard.tokens_used == 80_000
    assert calls == [guard]


def test_without_warn_at_nothing_changes() -> None:
    with BudgetGuard(token_limit=100) as guard:
        guard.record(CALL, call_id="a")
        assert not guard.warned
        assert landing_note() is None


def test_sdk_calls_warn_before_the_stop(llm: LLMServer) -> None:
    llm.queue(*(chat_completion(id=f"chatcmpl-{i}", prompt_tokens=400, completion_tokens=0) for i in range(3)))
    client = openai.OpenAI()
    messages = [{"role": "user", "content": "hi"}]
    with BudgetGuard(token_limit=1000, warn_at=0.75) as guard:
        client.chat.completions.create(model="gpt-4o", messages=messages)
        assert not guard.warned
        client.chat.completions.create(model="gpt-4o", messages=messages)
        assert guard.warned  # 800 of 1000
        with pytest.raises(BudgetExceededError):
            client.chat.completions.create(model="gpt-4o", messages=messages)  # 1200: crossed
    assert len(llm.requests) == 3


def test_a_shared_budget_warns_on_spend_other_processes_added() -> None:
    store = actguard.MemoryStore()
    mine = BudgetGuard(user_id="alice", usd_limit=1.0, shared=True, store=store, warn_at=0.8)
    other = BudgetGuard(user_id="alice", usd_limit=1.0, shared=True, store=store)  # another worker, same key
    with other:
        other.add_cost("search", 0.85)
    assert not mine.warned
    with mine:
        mine.check()  # reads the shared totals: 85% of the limit
    assert mine.warned and mine.usd_used == 0.0
