"""The adapter-contract harness for the OpenAI Agents SDK, and helpers shared by its tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import agents
from agents import Agent, FunctionTool, Runner, function_tool
from contract import BudgetSpec, RunOutcome, ToolSpec, Turn

from actguard_openai_agents import ActGuardRunHooks, guard_tool
from actguard_openai_agents.testing import ScriptedModel, ScriptedResponse, answer, tool_call

agents.set_tracing_disabled(True)


def script(turns: list[Turn]) -> list[ScriptedResponse]:
    return [
        tool_call(t.tool, t.args, input_tokens=t.input_tokens, output_tokens=t.output_tokens)
        if t.tool is not None
        else answer(t.text, input_tokens=t.input_tokens, output_tokens=t.output_tokens)
        for t in turns
    ]


def sdk_tool(spec: ToolSpec, from_function: bool = False) -> FunctionTool:
    """A FunctionTool for a plain function, guarded with the spec's guards (given the tool, or the function)."""
    if from_function and spec.name is None:
        return guard_tool(spec.fn, **spec.guards)
    tool = function_tool(spec.fn, name_override=spec.name) if spec.name else function_tool(spec.fn)
    return guard_tool(tool, **spec.guards) if spec.guards else tool


async def consume(result: Any) -> None:
    """Drain a streamed run's events (errors of the run come out here)."""
    async for _ in result.stream_events():
        pass


class AgentsHarness:
    """Runner.run (or run_streamed) metered by one ActGuardRunHooks shared by every run with the same limits.

    ``functions=True`` hands guard_tool the plain functions instead of ``@function_tool`` tools.
    """

    def __init__(self, mode: str = "run", functions: bool = False) -> None:
        self.mode = mode
        self.functions = functions
        self.name = f"openai-agents-{mode}" + ("-functions" if functions else "")
        self._hooks: dict[tuple[Any, ...], ActGuardRunHooks] = {}

    def hooks(self, budget: BudgetSpec) -> ActGuardRunHooks:
        key = (budget.usd_limit, budget.token_limit)  # one shared instance per limits; user_id varies per run
        if key not in self._hooks:
            self._hooks[key] = ActGuardRunHooks(usd_limit=budget.usd_limit, token_limit=budget.token_limit)
        return self._hooks[key]

    def run(self, turns: list[Turn], tools: list[ToolSpec], budget: BudgetSpec) -> RunOutcome:
        model = ScriptedModel(script(turns))
        agent = Agent(
            name="assistant", instructions="Help.", model=model, tools=[sdk_tool(s, self.functions) for s in tools]
        )
        hooks = self.hooks(budget)
        error: BaseException | None = None
        handle: Any = None
        try:
            handle = asyncio.run(self._run(agent, hooks))
        except Exception as exc:
            error = exc
        guard = hooks.budget_for(handle if error is None else error)
        assert guard is not None, f"no budget for {handle or error!r}"
        return RunOutcome(model.calls, model.tool_outputs(), error, guard.tokens_used, guard.usd_used)

    async def _run(self, agent: Agent[Any], hooks: ActGuardRunHooks) -> Any:
        if self.mode == "streamed":
            result = Runner.run_streamed(agent, "go", hooks=hooks)
            try:
                await consume(result)
            except Exception as exc:
                exc.__dict__.setdefault("_result", result)
                raise
            return result
        return await Runner.run(agent, "go", hooks=hooks)


HARNESSES: dict[str, Callable[[], AgentsHarness]] = {
    "run": lambda: AgentsHarness("run"),
    "streamed": lambda: AgentsHarness("streamed"),
    "run-functions": lambda: AgentsHarness("run", functions=True),
}


# -- streamed runs whose model reports no usage (contract USAGE_SCENARIOS) ------------------------------------------
def _streamed_without_usage(
    self: AgentsHarness, turns: list[Turn], tools: list[ToolSpec], budget: BudgetSpec
) -> RunOutcome:
    """A streamed run whose model reports 0 tokens for every call (what the SDK's Chat Completions model reports
    for a stream without its usage chunk)."""
    import dataclasses

    silent = [dataclasses.replace(t, input_tokens=0, output_tokens=0) for t in turns]
    return AgentsHarness("streamed", self.functions).run(silent, tools, budget)


AgentsHarness.run_streamed_without_usage = _streamed_without_usage  # type: ignore[attr-defined]
