"""ActGuardMiddleware with a shared per-run budget, on the async path (``ainvoke``): its store work runs off the
event loop, and a stalled store fails the run closed while the loop keeps serving other tasks.

Follow-up: ActGuardCallbackHandler is a sync, ``run_inline`` handler, so its check still runs on the loop."""

from __future__ import annotations

from contract import require

core = require("langchain_core")

import pytest  # noqa: E402

if int(core.__version__.split(".")[0]) < 1:
    pytest.skip(
        "ActGuardMiddleware needs langchain >= 1.0 (create_agent); the lowest session tests langchain-core 0.3",
        allow_module_level=True,
    )
require("langchain.agents")

from typing import Any  # noqa: E402

from contract import StalledRedis, Ticker, store_unavailable  # noqa: E402
from langchain.agents import create_agent  # noqa: E402
from langchain_core.messages import HumanMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402

from actguard_langchain import ActGuardMiddleware  # noqa: E402
from actguard_langchain.testing import ScriptedChatModel, answer, tool_call  # noqa: E402

INPUT = {"messages": [HumanMessage("find it")]}


@tool
def search(query: str) -> str:
    """Search the knowledge base."""
    return f"result for {query}"


def script() -> ScriptedChatModel:
    return ScriptedChatModel(
        responses=[tool_call("search", {"query": "q"}, input_tokens=50, output_tokens=10), answer("done")]
    )


async def run(model: ScriptedChatModel, middleware: ActGuardMiddleware) -> Any:
    return await create_agent(model, tools=[search], middleware=[middleware]).ainvoke(INPUT)


async def test_a_stalled_store_fails_the_run_closed_without_blocking_the_event_loop(stall: StalledRedis) -> None:
    middleware = ActGuardMiddleware(user_id="alice", token_limit=10_000, shared=True, store=stall.store)
    model = script()
    ticker = Ticker(stall.busy)
    stall.arm()  # the first store call is the check before the first model call
    with pytest.raises(Exception) as info:
        await run(model, middleware)
    ticks = await ticker.stop()
    assert store_unavailable(info.value) is not None, info.value
    assert stall.stalls == 1 and model.calls == 0  # refused before the call: fail closed
    assert ticks > 0  # another task kept running while the check waited on the frozen store


async def test_a_run_on_a_shared_budget_never_waits_on_the_store_on_the_event_loop(stall: StalledRedis) -> None:
    middleware = ActGuardMiddleware(user_id="bob", token_limit=10_000, shared=True, store=stall.store)
    await run(script(), middleware)
    local = ActGuardMiddleware(user_id="bob", token_limit=10_000)
    await run(script(), local)
    assert middleware.last_budget is not None and local.last_budget is not None
    assert middleware.last_budget.tokens_used == local.last_budget.tokens_used > 0  # as a per-process budget
    assert stall.calls_on_loop == 0
