"""The adapter-contract harness for LangChain, and helpers shared by the LangChain tests.

Two agent loops drive the scripted model: langchain v1 ``create_agent`` (with ``ActGuardMiddleware``) where
langchain is installed, and an LCEL tool-calling loop (langchain-core only) everywhere.
"""

from __future__ import annotations

import importlib.util
import uuid
from typing import Any

import pytest
from contract import BudgetSpec, RunOutcome, ToolSpec, Turn, require
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import BaseTool, StructuredTool

import actguard_langchain
from actguard_langchain.testing import ScriptedChatModel, answer, tool_call

HAS_LANGCHAIN_V1 = importlib.util.find_spec("langchain") is not None and (
    importlib.util.find_spec("langchain.agents") is not None
)


def require_langchain_v1() -> None:
    """Skip the calling test module below langchain 1.0: ActGuardMiddleware needs ``create_agent``, tested in the
    lowest-v1 and latest sessions (the lowest session has langchain-core 0.3 alone)."""
    import langchain_core

    if int(langchain_core.__version__.split(".")[0]) < 1:
        pytest.skip("ActGuardMiddleware needs langchain >= 1.0 (create_agent)", allow_module_level=True)
    require("langchain.agents")


def script(turns: list[Turn]) -> list[AIMessage]:
    return [
        tool_call(t.tool, t.args, input_tokens=t.input_tokens, output_tokens=t.output_tokens)
        if t.tool is not None
        else answer(t.text, input_tokens=t.input_tokens, output_tokens=t.output_tokens)
        for t in turns
    ]


def lc_tool(spec: ToolSpec) -> BaseTool:
    """A LangChain tool for a plain function, guarded with the spec's guards."""
    tool = StructuredTool.from_function(spec.fn, name=spec.name) if spec.name else spec.fn
    return actguard_langchain.guard_tool(tool, **spec.guards)


def tool_loop(model: Any, tools: list[BaseTool]) -> RunnableLambda[list[BaseMessage], list[BaseMessage]]:
    """A minimal tool-calling agent in LCEL: model, then each requested tool, until the model answers."""
    bound = model.bind_tools(tools)
    by_name = {t.name: t for t in tools}

    def loop(messages: list[BaseMessage], config: RunnableConfig) -> list[BaseMessage]:
        messages = list(messages)
        while True:
            reply = bound.invoke(messages, config)
            messages.append(reply)
            if not reply.tool_calls:
                return messages
            for call in reply.tool_calls:
                messages.append(by_name[call["name"]].invoke(call, config))

    async def aloop(messages: list[BaseMessage], config: RunnableConfig) -> list[BaseMessage]:
        messages = list(messages)
        while True:
            reply = await bound.ainvoke(messages, config)
            messages.append(reply)
            if not reply.tool_calls:
                return messages
            for call in reply.tool_calls:
                messages.append(await by_name[call["name"]].ainvoke(call, config))

    return RunnableLambda(loop, afunc=aloop, name="tool_loop")


def tool_outputs(messages: list[BaseMessage]) -> list[str]:
    return [str(m.content) for m in messages if isinstance(m, ToolMessage)]


class LCELHarness:
    """LCEL tool loop metered by one ActGuardCallbackHandler shared by every run (keyed by the run id)."""

    name = "langchain-lcel"

    def __init__(self) -> None:
        self._handlers: dict[tuple[Any, ...], actguard_langchain.ActGuardCallbackHandler] = {}

    def handler(self, budget: BudgetSpec) -> actguard_langchain.ActGuardCallbackHandler:
        key = (budget.usd_limit, budget.token_limit)  # one shared handler per limits; user_id varies per run
        if key not in self._handlers:
            self._handlers[key] = actguard_langchain.ActGuardCallbackHandler(
                usd_limit=budget.usd_limit, token_limit=budget.token_limit
            )
        return self._handlers[key]

    def run(self, turns: list[Turn], tools: list[ToolSpec], budget: BudgetSpec) -> RunOutcome:
        model = ScriptedChatModel(responses=script(turns))
        handler = self.handler(budget)
        run_id = uuid.uuid4()
        messages: list[BaseMessage] = [HumanMessage("go")]
        error: BaseException | None = None
        try:
            messages = tool_loop(model, [lc_tool(s) for s in tools]).invoke(
                messages, config={"callbacks": [handler], "run_id": run_id}
            )
        except Exception as exc:
            error = exc
        guard = handler.budget_for(run_id)  # None only if the run failed before it started
        tokens, usd = (guard.tokens_used, guard.usd_used) if guard is not None else (0, 0.0)
        return RunOutcome(model.calls, tool_outputs(messages), error, tokens, usd)


class AgentHarness:
    """langchain v1 create_agent with ActGuardMiddleware (a new middleware per run, as an app would build it)."""

    name = "langchain-create_agent"

    def run(self, turns: list[Turn], tools: list[ToolSpec], budget: BudgetSpec) -> RunOutcome:
        from langchain.agents import create_agent

        model = ScriptedChatModel(responses=script(turns))
        middleware = actguard_langchain.ActGuardMiddleware(
            user_id=budget.user_id, usd_limit=budget.usd_limit, token_limit=budget.token_limit
        )
        agent = create_agent(model, tools=[lc_tool(s) for s in tools], middleware=[middleware])
        messages: list[BaseMessage] = []
        error: BaseException | None = None
        try:
            messages = agent.invoke({"messages": [HumanMessage("go")]})["messages"]
        except Exception as exc:
            error = exc
        guard = middleware.last_budget  # None only if the run failed before it started
        tokens, usd = (guard.tokens_used, guard.usd_used) if guard is not None else (0, 0.0)
        return RunOutcome(model.calls, tool_outputs(messages), error, tokens, usd)


# -- streamed runs whose model reports no usage (contract USAGE_SCENARIOS) ------------------------------------------
def script_without_usage(turns: list[Turn]) -> list[AIMessage]:
    """The turns as AIMessages that report no ``usage_metadata`` at all (a provider streaming without usage)."""
    return [
        AIMessage(content="", tool_calls=[{"name": t.tool, "args": t.args, "id": f"call_{uuid.uuid4().hex[:8]}"}])
        if t.tool is not None
        else AIMessage(content=t.text)
        for t in turns
    ]


def stream_loop(model: Any, tools: list[BaseTool]) -> RunnableLambda[list[BaseMessage], list[BaseMessage]]:
    """The LCEL tool loop of :func:`tool_loop`, streaming each model call."""
    bound = model.bind_tools(tools)
    by_name = {t.name: t for t in tools}

    def loop(messages: list[BaseMessage], config: RunnableConfig) -> list[BaseMessage]:
        messages = list(messages)
        while True:
            reply: Any = None
            for chunk in bound.stream(messages, config):
                reply = chunk if reply is None else reply + chunk
            messages.append(reply)
            if not reply.tool_calls:
                return messages
            for call in reply.tool_calls:
                messages.append(by_name[call["name"]].invoke(call, config))

    return RunnableLambda(loop, name="stream_loop")


def _lcel_streamed_without_usage(
    self: LCELHarness, turns: list[Turn], tools: list[ToolSpec], budget: BudgetSpec
) -> RunOutcome:
    model = ScriptedChatModel(responses=script_without_usage(turns))
    handler = self.handler(budget)
    run_id = uuid.uuid4()
    messages: list[BaseMessage] = [HumanMessage("go")]
    error: BaseException | None = None
    try:
        messages = stream_loop(model, [lc_tool(s) for s in tools]).invoke(
            messages, config={"callbacks": [handler], "run_id": run_id}
        )
    except Exception as exc:
        error = exc
    guard = handler.budget_for(run_id)
    tokens, usd = (guard.tokens_used, guard.usd_used) if guard is not None else (0, 0.0)
    return RunOutcome(model.calls, tool_outputs(messages), error, tokens, usd)


def _agent_streamed_without_usage(
    self: AgentHarness, turns: list[Turn], tools: list[ToolSpec], budget: BudgetSpec
) -> RunOutcome:
    from langchain.agents import create_agent

    model = ScriptedChatModel(responses=script_without_usage(turns))
    middleware = actguard_langchain.ActGuardMiddleware(
        user_id=budget.user_id, usd_limit=budget.usd_limit, token_limit=budget.token_limit
    )
    agent = create_agent(model, tools=[lc_tool(s) for s in tools], middleware=[middleware])
    error: BaseException | None = None
    try:
        for _ in agent.stream({"messages": [HumanMessage("go")]}, stream_mode="messages"):
            pass
    except Exception as exc:
        error = exc
    guard = middleware.last_budget
    tokens, usd = (guard.tokens_used, guard.usd_used) if guard is not None else (0, 0.0)
    return RunOutcome(model.calls, [], error, tokens, usd)


LCELHarness.run_streamed_without_usage = _lcel_streamed_without_usage  # type: ignore[attr-defined]
AgentHarness.run_streamed_without_usage = _agent_streamed_without_usage  # type: ignore[attr-defined]
