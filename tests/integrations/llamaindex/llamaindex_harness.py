"""The adapter-contract harness for LlamaIndex, and helpers shared by the LlamaIndex tests.

Two agent loops drive the scripted LLM, both started with ``ActGuardHandler.run`` (a budget per run): a single
``FunctionAgent`` and an ``AgentWorkflow`` of one agent; the workflow's events are streamed to the end.
"""

from __future__ import annotations

import asyncio
from typing import Any

from contract import BudgetSpec, RunOutcome, ToolSpec, Turn
from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent
from llama_index.core.tools import FunctionTool

import actguard_llamaindex
from actguard_llamaindex.testing import Reply, ScriptedLLM, answer, tool_call


def script(turns: list[Turn]) -> list[Reply]:
    return [
        tool_call(t.tool, t.args, input_tokens=t.input_tokens, output_tokens=t.output_tokens)
        if t.tool is not None
        else answer(t.text, input_tokens=t.input_tokens, output_tokens=t.output_tokens)
        for t in turns
    ]


def li_tool(spec: ToolSpec) -> Any:
    """The function, or a FunctionTool under the spec's own name."""
    return FunctionTool.from_defaults(spec.fn, name=spec.name) if spec.name else spec.fn


def agent_for(llm: ScriptedLLM, tools: list[Any], **kwargs: Any) -> FunctionAgent:
    """A FunctionAgent (name and description are required on llama-index-core 0.12)."""
    return FunctionAgent(
        name="assistant",
        description="Answers with tools.",
        system_prompt="Use the tools.",
        tools=tools,
        llm=llm,
        **kwargs,
    )


class _Harness:
    name = "llamaindex"
    stream = False

    def workflow(self, llm: ScriptedLLM, tools: list[Any]) -> Any:
        raise NotImplementedError

    def run(self, turns: list[Turn], tools: list[ToolSpec], budget: BudgetSpec) -> RunOutcome:
        llm = ScriptedLLM(script(turns))
        guard = actguard_llamaindex.ActGuardHandler(
            user_id=budget.user_id, usd_limit=budget.usd_limit, token_limit=budget.token_limit
        )
        workflow = self.workflow(llm, [actguard_llamaindex.guard_tool(li_tool(s), **s.guards) for s in tools])

        async def main() -> tuple[Any, BaseException | None]:
            handler = guard.run(workflow, user_msg="go")
            if self.stream:
                async for _ in handler.stream_events():
                    pass
            try:
                await handler
            except Exception as exc:
                return handler, exc
            return handler, None

        handler, error = asyncio.run(main())
        spent = guard.budget_for(handler)
        assert spent is not None
        return RunOutcome(llm.calls, llm.observations, error, spent.tokens_used, spent.usd_used)


class FunctionAgentHarness(_Harness):
    """``FunctionAgent.run`` (a single agent is a workflow itself since llama-index-core 0.12.23)."""

    name = "llamaindex-FunctionAgent"

    def workflow(self, llm: ScriptedLLM, tools: list[Any]) -> Any:
        return agent_for(llm, tools)


class AgentWorkflowHarness(_Harness):
    """``AgentWorkflow`` of one agent, its events streamed to the end."""

    name = "llamaindex-AgentWorkflow-streamed"
    stream = True

    def workflow(self, llm: ScriptedLLM, tools: list[Any]) -> Any:
        return AgentWorkflow(agents=[agent_for(llm, tools)], root_agent="assistant")


HARNESSES = [FunctionAgentHarness(), AgentWorkflowHarness()]


# -- streamed runs whose model reports no usage (contract USAGE_SCENARIOS) ------------------------------------------
class SilentLLM(ScriptedLLM):
    """A ScriptedLLM whose responses carry no token counts (neither in ``raw`` nor in ``additional_kwargs``)."""

    def _usage(self, reply: Reply) -> dict[str, int]:
        return {}


def _streamed_without_usage(self: _Harness, turns: list[Turn], tools: list[ToolSpec], budget: BudgetSpec) -> RunOutcome:
    llm = SilentLLM(script(turns))
    guard = actguard_llamaindex.ActGuardHandler(
        user_id=budget.user_id, usd_limit=budget.usd_limit, token_limit=budget.token_limit
    )
    workflow = AgentWorkflowHarness().workflow(llm, [actguard_llamaindex.guard_tool(s.fn, **s.guards) for s in tools])

    async def main() -> tuple[Any, BaseException | None]:
        handler = guard.run(workflow, user_msg="go")
        try:
            async for _ in handler.stream_events():
                pass
            await handler
        except Exception as exc:
            return handler, exc
        return handler, None

    handler, error = asyncio.run(main())
    spent = guard.budget_for(handler)
    assert spent is not None
    return RunOutcome(llm.calls, llm.observations, error, spent.tokens_used, spent.usd_used)


_Harness.run_streamed_without_usage = _streamed_without_usage  # type: ignore[attr-defined]
