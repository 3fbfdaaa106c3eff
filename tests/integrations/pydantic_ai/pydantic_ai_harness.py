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

    def agent(self, model: Model, tools: list[ToolSpec], capability: ActGuardCapability) -> Agent[None, str]:
        if self.mode == "toolset":
            toolsets = [guard_tools(FunctionToolset([Tool(s.fn, name=s.name)]), **s.guards) for s in tools]
            return Agent(model, toolsets=toolsets, capabilities=[capability])
        return Agent(model, tools=[pai_tool(s, self.mode == "functions") for s in tools], capabilities=[capability])

    def run(self, turns: list[Turn], tools: list[ToolSpec], budget: BudgetSpec) -> RunOutcome:
        model = ScriptedModel(script(turns))
        capability = self.capability(budget)
        result, error = self._outcome(self.agent(model, tools, capability).run("go"))
        return self._read(capability, result, error, model.calls, model.tool_outputs())

    def run_streamed_without_usage(self, turns: list[Turn], tools: list[ToolSpec], budget: BudgetSpec) -> RunOutcome:
        """``agent.run_stream`` (every model call streamed) on a scripted model whose streams report no usage."""
        model = ScriptedModel(script(turns))
        capability = self.capability(budget)
        agent = self.agent(SilentStreams(model), tools, capability)

        async def streamed() -> Any:
            async with agent.run_stream("go") as result:
                await result.get_output()
            return result

        result, error = self._outcome(streamed())
        return self._read(capability, result, error, model.calls, model.tool_outputs())

    @staticmethod
    def _outcome(run: Any) -> tuple[Any, BaseException | None]:
        try:
            return asyncio.run(run), None
        except Exception as exc:
            return None, exc

    @staticmethod
    def _read(
        capability: ActGuardCapability, result: Any, error: BaseException | None, calls: int, outputs: list[str]
    ) -> RunOutcome:
        guard = capability.budget_for(result if error is None else error)
        assert guard is not None, f"no budget for {result or error!r}"
        return RunOutcome(calls, outputs, error, guard.tokens_used, guard.usd_used)


HARNESSES: dict[str, Callable[[], PydanticAIHarness]] = {
    "tools": lambda: PydanticAIHarness("tools"),
    "functions": lambda: PydanticAIHarness("functions"),
    "toolset": lambda: PydanticAIHarness("toolset"),
}
