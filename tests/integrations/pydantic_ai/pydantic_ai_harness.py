"""The adapter-contract harness for pydantic-ai, and helpers shared by its tests."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from contract import BudgetSpec, RunOutcome, ToolSpec, Turn
from pydantic_ai import Agent, Tool
from pydantic_ai.models import Model, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.toolsets import FunctionToolset
from pydantic_ai.usage import RequestUsage

from actguard_pydantic_ai import ActGuardCapability, ActGuardModel, guard_tool, guard_tools
from actguard_pydantic_ai.testing import ScriptedModel, ScriptedResponse, answer, tool_call


def script(turns: list[Turn]) -> list[ScriptedResponse]:
    return [
        tool_call(t.tool, t.args, input_tokens=t.input_tokens, output_tokens=t.output_tokens)
        if t.tool is not None
        else answer(t.text, input_tokens=t.input_tokens, output_tokens=t.output_tokens)
        for t in turns
    ]


def guarded(
    via: str, model: Model, *, tools: Any = (), instructions: str | None = None, **budget: Any
) -> tuple[Agent[None, str], ActGuardCapability | ActGuardModel]:
    """An agent on ``model`` with a budget per run ``via`` ``"capability"`` (ActGuardCapability) or ``"model"``
    (ActGuardModel wrapping ``model``), and the object that reads its runs' budgets."""
    if via == "model":
        wrapped = ActGuardModel(model, **budget)
        return Agent(wrapped, tools=list(tools), instructions=instructions), wrapped
    capability = ActGuardCapability(**budget)
    return Agent(model, tools=list(tools), instructions=instructions, capabilities=[capability]), capability


def pai_tool(spec: ToolSpec, functions: bool) -> Tool[Any]:
    """A guarded Tool for a plain function: given the function itself, or a ``Tool`` built from it."""
    if functions and spec.name is None:
        return guard_tool(spec.fn, **spec.guards)
    return guard_tool(Tool(spec.fn, name=spec.name), **spec.guards)


class SilentStreams(WrapperModel):
    """A model whose streamed responses report no usage, as a gateway ignoring ``stream_options.include_usage``
    does (pydantic-ai's FunctionModel estimates a stream's usage from its text: this hides it)."""

    @asynccontextmanager
    async def request_stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[StreamedResponse]:
        async with super().request_stream(*args, **kwargs) as stream:
            stream.__class__ = _silent(type(stream))
            yield stream


def _silent(cls: type[StreamedResponse]) -> type[StreamedResponse]:
    """``cls`` with a ``usage`` that reports nothing (a property since pydantic-ai 2, a method before)."""
    is_property = isinstance(inspect.getattr_static(cls, "usage"), property)
    usage: Any = property(lambda self: RequestUsage()) if is_property else (lambda self: RequestUsage())
    return type(f"Silent{cls.__name__}", (cls,), {"usage": usage})


class PydanticAIHarness:
    """agent.run with a budget per run: by default one ActGuardCapability shared by every run with the same limits.

    ``mode``: ``"tools"`` guards ``Tool`` objects, ``"functions"`` plain functions, ``"toolset"`` wraps a
    ``FunctionToolset`` of each spec's tool (one toolset per guard set) with ``guard_tools``; ``"model"`` guards
    ``Tool`` objects and wraps each run's model in an ActGuardModel instead of the capability.
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

    def agent(self, model: Model, tools: list[ToolSpec], budget: BudgetSpec) -> tuple[Agent[None, str], Any]:
        """The run's agent, and what reads its runs' budgets."""
        if self.mode == "model":
            wrapped = ActGuardModel(model, usd_limit=budget.usd_limit, token_limit=budget.token_limit)
            return Agent(wrapped, tools=[pai_tool(s, False) for s in tools]), wrapped
        capability = self.capability(budget)
        if self.mode == "toolset":
            toolsets = [guard_tools(FunctionToolset([Tool(s.fn, name=s.name)]), **s.guards) for s in tools]
            return Agent(model, toolsets=toolsets, capabilities=[capability]), capability
        tools_ = [pai_tool(s, self.mode == "functions") for s in tools]
        return Agent(model, tools=tools_, capabilities=[capability]), capability

    def run(self, turns: list[Turn], tools: list[ToolSpec], budget: BudgetSpec) -> RunOutcome:
        model = ScriptedModel(script(turns))
        agent, guard = self.agent(model, tools, budget)
        result, error = self._outcome(agent.run("go"))
        return self._read(guard, result, error, model.calls, model.tool_outputs())

    def run_streamed_without_usage(self, turns: list[Turn], tools: list[ToolSpec], budget: BudgetSpec) -> RunOutcome:
        """``agent.run_stream`` (every model call streamed) on a scripted model whose streams report no usage."""
        model = ScriptedModel(script(turns))
        agent, guard = self.agent(SilentStreams(model), tools, budget)

        async def streamed() -> Any:
            async with agent.run_stream("go") as result:
                await result.get_output()
            return result

        result, error = self._outcome(streamed())
        return self._read(guard, result, error, model.calls, model.tool_outputs())

    @staticmethod
    def _outcome(run: Any) -> tuple[Any, BaseException | None]:
        try:
            return asyncio.run(run), None
        except Exception as exc:
            return None, exc

    def _read(self, guard: Any, result: Any, error: BaseException | None, calls: int, outputs: list[str]) -> RunOutcome:
        budget = guard.budget_for(result if error is None else error)
        if budget is None and self.mode == "model" and error is not None:
            budget = guard.last_budget  # ActGuardModel knows the errors of model requests only (a tool's: not)
        assert budget is not None, f"no budget for {result or error!r}"
        return RunOutcome(calls, outputs, error, budget.tokens_used, budget.usd_used)


HARNESSES: dict[str, Callable[[], PydanticAIHarness]] = {
    "tools": lambda: PydanticAIHarness("tools"),
    "functions": lambda: PydanticAIHarness("functions"),
    "toolset": lambda: PydanticAIHarness("toolset"),
    "model": lambda: PydanticAIHarness("model"),
}
