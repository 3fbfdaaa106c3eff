from __future__ import annotations

import asyncio

import pytest
from contract import CONTRACT_SCENARIOS, AdapterHarness, Turn, require

require("crewai")

from contract import ToolSpec  # noqa: E402
from crewai_harness import CrewAIHarness, crew_tool, make_crew, replies  # noqa: E402

import actguard  # noqa: E402
import actguard_crewai  # noqa: E402
from actguard.testing import capture_events  # noqa: E402
from actguard_crewai.testing import ScriptedLLM  # noqa: E402

# CrewAI warns about its own deprecated fields while building agents; that is not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:crewai")


def search(query: str) -> str:
    """Search the knowledge base."""
    return f"result for {query}"


@pytest.mark.parametrize("scenario", CONTRACT_SCENARIOS, ids=lambda s: s.__name__)
def test_contract(scenario: object) -> None:
    harness: AdapterHarness = CrewAIHarness()
    scenario(harness)  # type: ignore[operator]


def _turns(n_tools: int, tokens: int = 120) -> list[Turn]:
    calls = [
        Turn(tool="search", args={"query": f"q{i}"}, input_tokens=tokens - 20, output_tokens=20) for i in range(n_tools)
    ]
    return [*calls, Turn(text="done", input_tokens=tokens - 20, output_tokens=20)]


def test_budget_error_reaches_kickoff_caller_and_stops_the_model() -> None:
    llm = ScriptedLLM(replies(_turns(5, tokens=600)))
    crew = make_crew(llm, [crew_tool(ToolSpec(search))])
    budget = actguard_crewai.CrewBudget(user_id="alice", token_limit=1000)
    with capture_events() as events, pytest.raises(actguard.BudgetExceededError) as info:
        budget.kickoff(crew)
    blocked = events.of(category="budget", name="llm_call", outcome="blocked")
    assert [(e["user_id"], e["payload"]["limit_type"]) for e in blocked] == [("alice", "token")]
    assert isinstance(info.value, actguard_crewai.CrewBudgetExceeded)
    assert info.value.limit_type == "token" and info.value.used == 1200 and info.value.user_id == "alice"
    assert llm.calls == 2
    assert budget.last_budget is not None and budget.last_budget.tokens_used == 1200


def test_active_budget_guard_is_charged_and_enforced() -> None:
    llm = ScriptedLLM(replies(_turns(5, tokens=600)))
    crew = make_crew(llm, [crew_tool(ToolSpec(search))])
    with actguard.BudgetGuard(user_id="bob", token_limit=1500) as outer, pytest.raises(actguard.BudgetExceededError):
        actguard_crewai.CrewBudget().kickoff(crew)  # no limits of its own: the outer guard stops it
    assert llm.calls == 3
    assert outer.tokens_used == 1800


def test_per_agent_breakdown_across_two_agents() -> None:
    researcher = ScriptedLLM(replies(_turns(1, tokens=100)))
    writer = ScriptedLLM(replies([Turn(text="written", input_tokens=300, output_tokens=50)]))
    a1 = make_crew(researcher, [crew_tool(ToolSpec(search))], role="researcher").agents[0]
    a2 = make_crew(writer, [], role="writer").agents[0]
    from crewai import Crew, Task

    crew = Crew(
        agents=[a1, a2],
        tasks=[
            Task(description="Research.", expected_output="notes", agent=a1),
            Task(description="Write.", expected_output="text", agent=a2),
        ],
        verbose=False,
    )
    budget = actguard_crewai.CrewBudget(user_id="carol", usd_limit=1.0)
    budget.kickoff(crew)
    by_agent = budget.last_by_agent
    assert by_agent["researcher"].calls == 2 and by_agent["researcher"].input_tokens == 160
    assert by_agent["writer"].calls == 1 and by_agent["writer"].output_tokens == 50
    assert budget.last_budget is not None and budget.last_budget.tokens_used == 200 + 350
    assert budget.last_budget.usd_used == pytest.approx(sum(a.usd for a in by_agent.values()))


def test_kickoff_async_and_akickoff_isolated_under_concurrency() -> None:
    async def one(i: int, native: bool) -> tuple[int, int]:
        llm = ScriptedLLM(replies(_turns(1, tokens=100 + i)))
        crew = make_crew(llm, [crew_tool(ToolSpec(search))])
        budget = actguard_crewai.CrewBudget(user_id=f"u{i}")
        await (budget.akickoff(crew) if native else budget.kickoff_async(crew))
        assert budget.last_budget is not None
        return i, budget.last_budget.tokens_used

    async def main() -> list[tuple[int, int]]:
        return await asyncio.gather(*(one(i, native=i % 2 == 0) for i in range(6)))

    for i, tokens in asyncio.run(main()):
        assert tokens == 2 * (100 + i)


def test_budget_stop_in_async_kickoff() -> None:
    llm = ScriptedLLM(replies(_turns(5, tokens=600)))
    crew = make_crew(llm, [crew_tool(ToolSpec(search))])
    with pytest.raises(actguard.BudgetExceededError):
        asyncio.run(actguard_crewai.CrewBudget(token_limit=1000).akickoff(crew))
    assert llm.calls == 2


def test_bad_arguments_fail_at_construction() -> None:
    with pytest.raises(actguard.ConfigError, match="token_limit"):
        actguard_crewai.CrewBudget(token_limit=-1)
    with pytest.raises(actguard.ConfigError, match="flush_timeout"):
        actguard_crewai.CrewBudget(flush_timeout=0)
    with pytest.raises(actguard.ConfigError, match="on_refusal"):
        actguard_crewai.guard_tool(crew_tool(ToolSpec(search)), on_refusal="ignore")
    with pytest.raises(actguard.ConfigError, match="tool"):
        actguard_crewai.guard_tool(search)


def test_guarded_tool_keeps_name_description_and_schema(store: actguard.MemoryStore) -> None:
    plain = crew_tool(ToolSpec(search))
    guarded = actguard_crewai.guard_tool(plain, rate_limit={"max_calls": 1, "period": 60})
    assert guarded.name == plain.name
    assert guarded.description == plain.description
    assert guarded.args_schema.model_json_schema() == plain.args_schema.model_json_schema()
    assert guarded.run(query="a") == "result for a"
    assert "rate limit" in guarded.run(query="b").lower()


def test_refusal_raises_with_on_refusal_raise(store: actguard.MemoryStore) -> None:
    raising = actguard_crewai.guard_tool(
        crew_tool(ToolSpec(search)), on_refusal="raise", rate_limit={"max_calls": 1, "period": 60}
    )
    assert raising.run(query="a") == "result for a"
    with pytest.raises(actguard.RateLimitExceeded):
        raising.run(query="b")


def test_a_stopped_crew_does_not_block_another_crew_running_meanwhile() -> None:
    import threading

    stopped_llm = ScriptedLLM(replies(_turns(5, tokens=600)))
    free_llm = ScriptedLLM(replies(_turns(5, tokens=600)))
    errors: list[BaseException] = []
    started = threading.Barrier(2)

    def guarded() -> None:
        started.wait()
        try:
            actguard_crewai.CrewBudget(token_limit=1000).kickoff(make_crew(stopped_llm, [crew_tool(ToolSpec(search))]))
        except actguard.BudgetExceededError as exc:
            errors.append(exc)

    def unguarded() -> None:
        started.wait()
        make_crew(free_llm, [crew_tool(ToolSpec(search))]).kickoff()

    threads = [threading.Thread(target=guarded), threading.Thread(target=unguarded)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 1 and stopped_llm.calls == 2
    assert free_llm.calls == 6  # five tool calls and the final answer: never refused


def test_a_basetool_subclass_refusal_names_the_tool_not_its_run_method(store: actguard.MemoryStore) -> None:
    from crewai.tools import BaseTool
    from pydantic import BaseModel

    class Query(BaseModel):
        query: str

    class SearchTool(BaseTool):
        name: str = "search"
        description: str = "Search the knowledge base."
        args_schema: type[BaseModel] = Query

        def _run(self, query: str) -> str:
            return f"result for {query}"

    turns = [Turn(tool="search", args={"query": "a"}), Turn(tool="search", args={"query": "b"}), Turn(text="done")]
    llm = ScriptedLLM(replies(turns))
    guarded = actguard_crewai.guard_tool(SearchTool(), rate_limit={"max_calls": 1, "period": 60})
    actguard_crewai.CrewBudget().kickoff(make_crew(llm, [guarded]))
    assert llm.observations[0] == "result for a"
    assert "'search'" in llm.observations[1] and "_run" not in llm.observations[1], llm.observations


def test_budget_for_reads_each_kickoff_by_its_result_or_error() -> None:
    budget = actguard_crewai.CrewBudget(token_limit=1000)
    done = budget.kickoff(make_crew(ScriptedLLM(replies(_turns(1))), [crew_tool(ToolSpec(search))]))
    with pytest.raises(actguard.BudgetExceededError) as info:
        budget.kickoff(make_crew(ScriptedLLM(replies(_turns(5, tokens=600))), [crew_tool(ToolSpec(search))]))
    finished, stopped = budget.budget_for(done), budget.budget_for(info.value)
    assert finished is not None and finished.tokens_used == 240
    assert stopped is not None and stopped.tokens_used == 1200
    assert budget.last_budget is stopped


def test_every_budget_guard_option_is_accepted_and_checked() -> None:
    budget = actguard_crewai.CrewBudget(
        usd_limit=1.0, strict=True, on_unknown_model="warn", fallback_price={"input_per_mtok": 1, "output_per_mtok": 2}
    )
    assert budget.runs.new_budget().strict is True
    with pytest.raises(actguard.ConfigError, match="window"):
        actguard_crewai.CrewBudget(window="soon")
    with pytest.raises(actguard.ConfigError, match="ActGuardCrewHooks"):
        actguard_crewai.CrewBudget(no_such_option=1)


def test_a_store_outage_in_a_result_as_answer_tool_reaches_the_caller(tmp_path: object) -> None:
    """No model call follows a result_as_answer tool; the kickoff still raises the error instead of answering."""
    import sqlite3
    from pathlib import Path

    from crewai.tools import tool as crewai_tool

    path = Path(str(tmp_path)) / "guards.db"
    store = actguard.SQLiteStore(path, timeout=0.05)

    @crewai_tool("lookup", result_as_answer=True)
    def lookup(query: str) -> str:
        """Look the query up."""
        return f"result for {query}"

    guarded = actguard_crewai.guard_tool(lookup, rate_limit={"max_calls": 5, "period": 60, "store": store})
    llm = ScriptedLLM(replies([Turn(tool="lookup", args={"query": "a"}), Turn(text="done")]))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(actguard.StoreUnavailable):
            actguard_crewai.ActGuardCrewHooks().kickoff(make_crew(llm, [guarded]))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        store.close()
    assert llm.calls == 1 and llm.observations == []
