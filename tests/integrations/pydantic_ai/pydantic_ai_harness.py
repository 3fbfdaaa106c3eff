"""The adapter-contract harness for pydantic-ai, and helpers shared by its tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from contract import BudgetSpec, RunOutcome, ToolSpec, Turn
from pydantic_ai import Agent, Tool
from pydantic_ai.toolsets import FunctionToolset

from actguard_pydantic_ai import ActGuardCapability, guard_tool, guard_tools
from actguard_pydantic_ai.testing import ScriptedModel, ScriptedResponse, answer, tool_call


def script(turns: list[Turn]) -> list[ScriptedResponse]:
    return [
        tool_call(t.tool, t.args, input_tokens=t.input_tokens, output_tokens=t.output_tokens)
        if t.tool is not None
        else answer(t.text, input_tokens=t.input_tokens, output_tokens=t.output_tokens)
        for t in turns
    ]


def pai_tool(spec: ToolSpec, functions: bool) -> Tool[Any]:
    """A guarded Tool for a plain function: given the function itself, or a ``Tool`` built from it."""
    if functions and spec.name is None:
        return guard_tool(spec.fn, **spec.guards)
    return guard_tool(Tool(spec.fn, name=spec.name), **spec.guards)


class PydanticAIHarness:
    """agent.run metered by one ActGuardCapability shared by every run with the same limits.

    ``mode``: ``"tools"`` guards ``Tool`` objects, ``"functions"`` plain functions, ``"toolset"`` wraps a
    ``FunctionToolset`` of each spec's tool (one toolset per guard set) with ``guard_tools``.
    """

    def __init__(self, mode: str = "tools") -> None:
        self.mode = mode
        self.name = f"pydantic-ai-{mode}"
        self._capabilities: dict[tuple[Any, ...], ActGuardCapability] = {}

    def capability(self, budget: BudgetSpec) -> ActGuardCapability:
        key = (budget.usd_limit, budget.token_limit)  # one shared instance per limits; user_id varies per run
        if key not in self._capabilities:
            self._capabilities[key] = ActGuardCapability(usd_limit=budget.usd_limit, token_limit=budget.token_limit)
        return self._capabilities[key]

    def agent(self, model: ScriptedModel, tools: list[ToolSpec], capability: ActGuardCapability) -> Agent[None, str]:
        if self.mode == "toolset":
            toolsets = [guard_tools(FunctionToolset([Tool(s.fn, name=s.name)]), **s.guards) for s in tools]
            return Agent(model, toolsets=toolsets, capabilities=[capability])
        return Agent(model, tools=[pai_tool(s, self.mode == "functions") for s in tools], capabilities=[capability])

    def run(self, turns: list[Turn], tools: list[ToolSpec], budget: BudgetSpec) -> RunOutcome:
        model = ScriptedModel(script(turns))
        capability = self.capability(budget)
        agent = self.agent(model, tools, capability)
        error: BaseException | None = None
        result: Any = None
        try:
            result = asyncio.run(agent.run("go"))
        except Exception as exc:
            error = exc
        guard = capability.budget_for(result if error is None else error)
        assert guard is not None, f"no budget for {result or error!r}"
        return RunOutcome(model.calls, model.tool_outputs(), error, guard.tokens_used, guard.usd_used)


HARNESSES: dict[str, Callable[[], PydanticAIHarness]] = {
    "tools": lambda: PydanticAIHarness("tools"),
    "functions": lambda: PydanticAIHarness("functions"),
    "toolset": lambda: PydanticAIHarness("toolset"),
}
