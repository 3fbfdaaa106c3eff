"""ActGuardRunHooks with a shared per-run budget: its store work runs off the event loop, and a stalled store fails
the run closed while the loop keeps serving other tasks."""

from __future__ import annotations

from contract import require

require("agents")


import pytest  # noqa: E402
from agents import Agent, Runner, function_tool  # noqa: E402
from contract import StalledRedis, Ticker, store_unavailable  # noqa: E402

from actguard_openai_agents import ActGuardRunHooks, budget_guardrail  # noqa: E402
from actguard_openai_agents.testing import ScriptedModel, answer, tool_call  # noqa: E402

pytestmark = pytest.mark.usefixtures("store")


@function_tool
def search(query: str) -> str:
    """Search the knowledge base."""
    return f"result for {query}"


def script() -> ScriptedModel:
    return ScriptedModel([tool_call("search", {"query": "q"}, input_tokens=50, output_tokens=10), answer("done")])


async def test_a_stalled_store_fails_the_run_closed_without_blocking_the_event_loop(stall: StalledRedis) -> None:
    hooks = ActGuardRunHooks(user_id="alice", token_limit=10_000, shared=True, store=stall.store)
    model = script()
    ticker = Ticker(stall.busy)
    stall.arm()  # the first store call is the check before the first model call
    with pytest.raises(Exception) as info:
        await Runner.run(Agent(name="a", model=model, tools=[search]), "go", hooks=hooks)
    ticks = await ticker.stop()
    assert store_unavailable(info.value) is not None, info.value
    assert stall.stalls == 1 and model.calls == 0  # refused before the call: fail closed
    assert ticks > 0  # another task kept running while the check waited on the frozen store


async def test_a_run_on_a_shared_budget_never_waits_on_the_store_on_the_event_loop(stall: StalledRedis) -> None:
    hooks = ActGuardRunHooks(user_id="bob", token_limit=10_000, shared=True, store=stall.store)
    guardrail = budget_guardrail(hooks)
    agent = Agent(name="a", model=script(), tools=[search], input_guardrails=[guardrail])
    result = await Runner.run(agent, "go", hooks=hooks)
    local = ActGuardRunHooks(user_id="bob", token_limit=10_000)
    reference = await Runner.run(Agent(name="a", model=script(), tools=[search]), "go", hooks=local)
    budget, expected = hooks.budget_for(result), local.budget_for(reference)
    assert budget is not None and expected is not None
    assert budget.tokens_used == expected.tokens_used > 0  # checked and recorded as a per-process budget is
    assert stall.calls_on_loop == 0
