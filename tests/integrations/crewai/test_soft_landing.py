"""Soft landing and loop refusals in a crew kickoff: once the budget warned, the agent's next LLM call carries the
note (added once through CrewAI's before_llm_call hook); the hard limit still stops the crew."""

from __future__ import annotations

from typing import Any

import pytest
from contract import require

require("crewai")

from contract import ToolSpec, Turn  # noqa: E402
from crewai_harness import crew_tool, make_crew, replies  # noqa: E402

import actguard  # noqa: E402
import actguard_crewai  # noqa: E402
from actguard_crewai.testing import ScriptedLLM  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:crewai")


def search(query: str) -> str:
    """Search the knowledge base."""
    return f"result for {query}"


class RecordingLLM(ScriptedLLM):
    """The scripted LLM, keeping a copy of the messages of each call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[list[dict[str, Any]]] = []

    def call(self, messages: Any, *args: Any, **kwargs: Any) -> str:
        self.received.append([dict(m) for m in messages] if isinstance(messages, list) else [])
        return super().call(messages, *args, **kwargs)

    def notes(self) -> list[int]:
        return [sum("Budget notice" in str(m.get("content")) for m in call) for call in self.received]


def turns(n: int, tokens: int, args: list[dict[str, Any]] | None = None) -> list[Turn]:
    calls = [
        Turn(tool="search", args=(args or [{"query": f"q{i}"} for i in range(n)])[i], input_tokens=tokens - 20)
        for i in range(n)
    ]
    return [*calls, Turn(text="done", input_tokens=tokens - 20, output_tokens=20)]


def test_the_call_after_the_warning_carries_the_note_and_the_hard_limit_still_stops() -> None:
    llm = RecordingLLM(replies(turns(5, tokens=400)))
    crew = make_crew(llm, [crew_tool(ToolSpec(search))])
    warned: list[actguard.BudgetGuard] = []
    with (
        actguard.BudgetGuard(token_limit=1000, warn_at=0.5, on_warn=warned.append) as outer,
        pytest.raises(actguard.BudgetExceededError),
    ):
        actguard_crewai.CrewBudget().kickoff(crew)
    assert llm.calls == 3  # 400, 800 (warned), 1200: crossed, the 4th call is refused
    assert llm.notes() == [0, 0, 1]
    note = llm.received[2][-1]
    assert note["role"] == "system" and "80%" in note["content"]
    assert warned == [outer]


def test_the_note_is_added_once_per_conversation() -> None:
    llm = RecordingLLM(replies(turns(3, tokens=100)))
    crew = make_crew(llm, [crew_tool(ToolSpec(search))])
    with actguard.BudgetGuard(token_limit=10_000, warn_at=0.01) as outer:  # warned after the first call
        actguard_crewai.CrewBudget().kickoff(crew)
    assert outer.warned
    assert llm.notes() == [0, 1, 1, 1]  # added before the 2nd call, then kept in the conversation, never repeated


def test_guard_tool_refuses_a_repeated_call_back_to_the_model() -> None:
    # CrewAI itself refuses the same input twice in a row, so the repeat comes back after another call.
    args = [{"query": "a"}, {"query": "b"}, {"query": "a"}]
    llm = ScriptedLLM(replies(turns(3, tokens=50, args=args)))
    guards = {"loop_guard": {"max_repeats": 1, "max_cycle": 0}}
    crew = make_crew(llm, [crew_tool(ToolSpec(search, guards=guards))])
    with actguard.RunContext():
        actguard_crewai.CrewBudget().kickoff(crew)
    assert llm.observations[:2] == ["result for a", "result for b"]
    assert "repeating yourself" in llm.observations[2]
