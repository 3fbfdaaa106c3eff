"""The adapter-contract harness for CrewAI, on actguard_crewai's scripted LLM."""

from __future__ import annotations

from typing import Any

from contract import BudgetSpec, RunOutcome, ToolSpec, Turn
from crewai import Agent, Crew, Task
from crewai.tools import tool as crewai_tool

import actguard_crewai
from actguard_crewai.testing import Reply, ScriptedLLM, final_answer, tool_call


def replies(turns: list[Turn]) -> list[Reply]:
    return [
        tool_call(t.tool, t.args, input_tokens=t.input_tokens, output_tokens=t.output_tokens)
        if t.tool is not None
        else final_answer(t.text, input_tokens=t.input_tokens, output_tokens=t.output_tokens)
        for t in turns
    ]


def crew_tool(spec: ToolSpec) -> Any:
    """A CrewAI ``@tool`` tool for a plain function, guarded with the spec's guards."""
    made = crewai_tool(spec.tool_name)(spec.fn)
    return actguard_crewai.guard_tool(made, **spec.guards) if spec.guards else made


def make_crew(llm: Any, tools: list[Any], role: str = "researcher") -> Crew:
    agent = Agent(
        role=role, goal="answer", backstory="a scripted agent", llm=llm, tools=tools, cache=False, verbose=False
    )
    task = Task(description="Answer the question.", expected_output="an answer", agent=agent)
    return Crew(agents=[agent], tasks=[task], verbose=False)


class CrewAIHarness:
    name = "crewai"

    def run(self, turns: list[Turn], tools: list[ToolSpec], budget: BudgetSpec) -> RunOutcome:
        llm = ScriptedLLM(replies(turns))
        crew = make_crew(llm, [crew_tool(t) for t in tools])
        hooks = actguard_crewai.CrewBudget(
            user_id=budget.user_id, usd_limit=budget.usd_limit, token_limit=budget.token_limit
        )
        error: BaseException | None = None
        try:
            hooks.kickoff(crew)
        except Exception as exc:
            error = exc
        spent = hooks.last_budget
        assert spent is not None
        return RunOutcome(llm.calls, llm.observations, error, spent.tokens_used, spent.usd_used)


# -- runs whose model reports no usage (contract USAGE_SCENARIOS) ----------------------------------------------------
def _run_without_usage(self: CrewAIHarness, turns: list[Turn], tools: list[ToolSpec], budget: BudgetSpec) -> RunOutcome:
    """A kickoff whose LLM reports no usage for any call (CrewAI's scripted LLM does not stream: the scenario's
    point, a call no layer could meter, is the same)."""
    import dataclasses

    llm = ScriptedLLM([dataclasses.replace(r, reports_usage=False) for r in replies(turns)])
    crew = make_crew(llm, [crew_tool(t) for t in tools])
    hooks = actguard_crewai.CrewBudget(
        user_id=budget.user_id, usd_limit=budget.usd_limit, token_limit=budget.token_limit
    )
    error: BaseException | None = None
    try:
        hooks.kickoff(crew)
    except Exception as exc:
        error = exc
    spent = hooks.last_budget
    assert spent is not None
    return RunOutcome(llm.calls, llm.observations, error, spent.tokens_used, spent.usd_used)


CrewAIHarness.run_streamed_without_usage = _run_without_usage  # type: ignore[attr-defined]
