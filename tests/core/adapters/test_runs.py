"""actguard.runs: the per-run budget registry, the pre-call check and the one blocked event adapters share."""

from __future__ import annotations

import threading

import pytest

import actguard
from actguard import BudgetExceededError, BudgetGuard, ConfigError, LLMUsage
from actguard.runs import RunBudgets, acheck_call, check_call, off_loop
from actguard.testing import capture_events


def _spend(budget: BudgetGuard, tokens: int) -> None:
    budget.record(LLMUsage("gpt-4o", "openai", input_tokens=tokens, output_tokens=0))


def test_every_budget_guard_option_is_accepted_and_validated_at_construction() -> None:
    runs = RunBudgets("alice", token_limit=100, strict=True, on_unknown_model="raise", max_runs=2)
    budget = runs.open("r1")
    assert (budget.user_id, budget.token_limit, budget.strict) == ("alice", 100, True)
    with pytest.raises(ConfigError, match="window"):
        RunBudgets(window="soon")
    with pytest.raises(ConfigError, match=r"MyHooks: .*unexpected keyword"):
        RunBudgets(owner="MyHooks", no_such_option=1)
    with pytest.raises(ConfigError, match=r"MyHooks\(max_runs=\.\.\.\)"):
        RunBudgets(owner="MyHooks", max_runs=0)


def test_budgets_are_read_back_by_run_id_and_by_attached_objects() -> None:
    runs = RunBudgets(max_runs=2)

    class Result:  # takes weak references
        pass

    first, second = runs.open("a"), runs.open("b")
    result = Result()
    runs.attach(result, second)
    assert runs.budget_for("a") is first and runs.budget_for(result) is second
    assert runs.last_budget is second
    runs.open("c")  # max_runs=2: the oldest run id drops out
    assert runs.budget_for("a") is None and runs.budget_for("b") is second
    assert runs.budget_for(["unhashable"]) is None


def test_a_run_tree_charges_its_top_level_run() -> None:
    runs = RunBudgets()
    root = runs.start("root")
    assert runs.start("child", "root") is root and runs.start("grandchild", "child") is root
    assert runs.budget_for("grandchild") is root and runs.live_runs == 3
    for run_id in ("grandchild", "child", "root"):
        runs.end(run_id)
    assert runs.live_runs == 0 and runs.budget_for("root") is root  # finished runs stay readable


def test_check_call_refuses_once_spent_and_reports_one_event_with_one_payload() -> None:
    budget = BudgetGuard(user_id="alice", token_limit=100, name="run")
    _spend(budget, 120)
    with capture_events() as events, pytest.raises(BudgetExceededError):
        check_call([budget, None], "gpt-4o")
    [stop] = events.of(category="budget", name="llm_call", outcome="blocked")
    assert stop["user_id"] == "alice"
    assert stop["payload"] == {"guard": "run", "limit_type": "token", "limit": 100, "used": 120}


def test_check_call_enforces_the_enclosing_guard_too() -> None:
    run = BudgetGuard(token_limit=1000)
    with BudgetGuard(token_limit=50) as outer:
        _spend(outer, 60)
        with pytest.raises(BudgetExceededError) as info:
            check_call([run, actguard.current_budget()])
    assert info.value.limit == 50


async def test_acheck_call_is_check_call_from_async_code() -> None:
    budget = BudgetGuard(user_id="alice", token_limit=100, name="run")
    await acheck_call([budget, None], "gpt-4o")
    _spend(budget, 120)
    with capture_events() as events, pytest.raises(BudgetExceededError):
        await acheck_call([budget, None], "gpt-4o")
    [stop] = events.of(category="budget", name="llm_call", outcome="blocked")
    assert stop["payload"] == {"guard": "run", "limit_type": "token", "limit": 100, "used": 120}


def _thread() -> int:
    return threading.get_ident()


async def test_off_loop_hops_to_a_worker_thread_only_when_a_budget_chain_is_shared() -> None:
    here = threading.get_ident()
    local = BudgetGuard(token_limit=100)
    shared = BudgetGuard(user_id="u", token_limit=100, shared=True, store=actguard.MemoryStore())
    assert await off_loop([local, None], _thread) == here  # a per-process budget does no I/O: no hop
    assert await off_loop([local, shared], _thread) != here
    with shared, BudgetGuard(token_limit=100) as inner:  # a shared guard enclosing the run's budget
        assert await off_loop([inner], _thread) != here


def test_concurrent_runs_each_get_their_own_budget() -> None:
    runs = RunBudgets(max_runs=1000)
    got: dict[int, BudgetGuard] = {}

    def one(i: int) -> None:
        budget = runs.start(f"root-{i}")
        for depth in range(20):
            assert runs.start(f"r{i}-{depth}", f"root-{i}") is budget
            _spend(budget, 1)
            runs.end(f"r{i}-{depth}")
        runs.end(f"root-{i}")
        got[i] = budget

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(b) for b in got.values()}) == 8
    assert all(runs.budget_for(f"root-{i}") is b and b.tokens_used == 20 for i, b in got.items())
    assert runs.live_runs == 0
