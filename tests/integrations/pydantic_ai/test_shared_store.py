"""ActGuardCapability with a shared per-run budget: its store work runs off the event loop, and a stalled store
fails the run closed while the loop keeps serving other tasks."""

from __future__ import annotations

from contract import require

require("pydantic_ai")


import pytest  # noqa: E402
from contract import StalledRedis, Ticker, store_unavailable  # noqa: E402
from pydantic_ai import Agent  # noqa: E402

from actguard_pydantic_ai import ActGuardCapability  # noqa: E402
from actguard_pydantic_ai.testing import ScriptedModel, answer, tool_call  # noqa: E402

pytestmark = pytest.mark.usefixtures("store")


def search(query: str) -> str:
    """Search the knowledge base for the query."""
    return f"result for {query}"


def script() -> ScriptedModel:
    return ScriptedModel([tool_call("search", {"query": "q"}, input_tokens=50, output_tokens=10), answer("done")])


async def test_a_stalled_store_fails_the_run_closed_without_blocking_the_event_loop(stall: StalledRedis) -> None:
    capability = ActGuardCapability(user_id="alice", token_limit=10_000, shared=True, store=stall.store)
    model = script()
    ticker = Ticker(stall.busy)
    stall.arm()  # the first store call is the check before the first model request
    with pytest.raises(Exception) as info:
        await Agent(model, tools=[search], capabilities=[capability]).run("go")
    ticks = await ticker.stop()
    assert store_unavailable(info.value) is not None, info.value
    assert stall.stalls == 1 and model.calls == 0  # refused before the request: fail closed
    assert ticks > 0  # another task kept running while the check waited on the frozen store


async def test_a_run_on_a_shared_budget_never_waits_on_the_store_on_the_event_loop(stall: StalledRedis) -> None:
    capability = ActGuardCapability(user_id="bob", token_limit=10_000, shared=True, store=stall.store)
    result = await Agent(script(), tools=[search], capabilities=[capability]).run("go")
    local = ActGuardCapability(user_id="bob", token_limit=10_000)
    reference = await Agent(script(), tools=[search], capabilities=[local]).run("go")
    budget, expected = capability.budget_for(result), local.budget_for(reference)
    assert budget is not None and expected is not None
    assert budget.tokens_used == expected.tokens_used > 0  # checked and recorded as a per-process budget is
    assert stall.calls_on_loop == 0
