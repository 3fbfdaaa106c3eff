"""A scripted CrewAI LLM and the adapter-contract harness for CrewAI."""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

from contract import MODEL, BudgetSpec, RunOutcome, ToolSpec, Turn
from crewai import Agent, Crew, Task
from crewai.events.types.llm_events import LLMCallType
from crewai.llms.base_llm import BaseLLM, llm_call_context
from crewai.tools import tool as crewai_tool

import actguard_crewai

_ids = itertools.count()
_ids_lock = threading.Lock()


def _next_id() -> int:
    with _ids_lock:
        return next(_ids)


class ScriptedLLM(BaseLLM):
    """Plays ``turns`` in order as ReAct text, reporting each turn's usage the way CrewAI's providers do."""

    def __init__(self, turns: list[Turn], model: str = MODEL) -> None:
        super().__init__(model=model)
        self._turns = turns
        self.calls = 0
        self.observations: list[str] = []

    def supports_function_calling(self) -> bool:
        return False

    def call(
        self,
        messages: Any,
        tools: Any = None,
        callbacks: Any = None,
        available_functions: Any = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: Any = None,
        **kwargs: Any,
    ) -> str:
        with llm_call_context():
            self._emit_call_started_event(
                messages=messages,
                tools=tools,
                callbacks=callbacks,
                available_functions=available_functions,
                from_task=from_task,
                from_agent=from_agent,
            )
            self._record_observation(messages)
            turn = self._turns[min(self.calls, len(self._turns) - 1)]
            self.calls += 1
            if turn.tool is not None:
                text = f"Thought: I need {turn.tool}\nAction: {turn.tool}\nAction Input: {json.dumps(turn.args)}"
            else:
                text = f"Thought: I now know the final answer\nFinal Answer: {turn.text}"
            usage = {
                "prompt_tokens": turn.input_tokens,
                "completion_tokens": turn.output_tokens,
                "total_tokens": turn.total_tokens,
            }
            self._track_token_usage_internal(usage)
            self._emit_call_completed_event(
                response=text,
                call_type=LLMCallType.LLM_CALL,
                from_task=from_task,
                from_agent=from_agent,
                messages=messages,
                usage=usage,
                response_id=f"scripted-{_next_id()}",
            )
            return text

    def _record_observation(self, messages: Any) -> None:
        for message in reversed(messages if isinstance(messages, list) else []):
            content = message.get("content") if isinstance(message, dict) else None
            if message.get("role") == "assistant" and isinstance(content, str) and "\nObservation:" in content:
                self.observations.append(content.rsplit("\nObservation:", 1)[1].strip())
                return


def crew_tool(spec: ToolSpec) -> Any:
    """A CrewAI ``@tool`` tool for a plain function, guarded with the spec's guards."""
    made = crewai_tool(spec.fn.__name__)(spec.fn)
    return actguard_crewai.guard_tool(made, **spec.guards) if spec.guards else made


def make_crew(llm: BaseLLM, tools: list[Any], role: str = "researcher") -> Crew:
    agent = Agent(
        role=role, goal="answer", backstory="a scripted agent", llm=llm, tools=tools, cache=False, verbose=False
    )
    task = Task(description="Answer the question.", expected_output="an answer", agent=agent)
    return Crew(agents=[agent], tasks=[task], verbose=False)


class CrewAIHarness:
    name = "crewai"

    def run(self, turns: list[Turn], tools: list[ToolSpec], budget: BudgetSpec) -> RunOutcome:
        llm = ScriptedLLM(turns)
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
