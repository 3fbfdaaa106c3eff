"""ActGuardRunHooks with a shared per-run budget: its store work runs off the event loop, and a stalled store fails
the run closed while the loop keeps serving other tasks."""

from __future__ import annotations

from contract import require

require("agents")


from typing import Any  # noqa: E402

import pytest  # noqa: E402
from agents import Agent, Runner, function_tool  # noqa: E402
from contract import StalledRedis, shared_run_never_waits_on_the_loop, stalled_store_fails_the_run_closed_off_the_loop  # noqa: E402

from actguard import BudgetGuard  # noqa: E402
from actguard_openai_agents import ActGuardRunHooks, budget_guardrail  # noqa: E402
from actguard_openai_agents.testing import ScriptedModel, answer, tool_call  # noqa: E402

pytestmark = pytest.mark.usefixtures("store")


@function_tool
def search(query: str) -> str:
    """Search the knowledge base."""
    return f"result for {query}"


def script() -> ScriptedModel:
    return ScriptedModel([tool_call("search", {"query": "q"}, input_tokens=50, output_tokens=10), answer("done")])


async def run(model: ScriptedModel, user_id: str, **options: Any) -> BudgetGuard | None:
    hooks = ActGuardRunHooks(user_id=user_id, token_limit=10_000, **options)
    agent = Agent(name="a", model=model, tools=[search], input_guardrails=[budget_guardrail(hooks)])
    return hooks.budget_for(await Runner.run(agent, "go", hooks=hooks))


async def test_a_stalled_store_fails_the_run_closed_without_blocking_the_event_loop(stall: StalledRedis) -> None:
    await stalled_store_fails_the_run_closed_off_the_loop(stall, script, run)


async def test_a_run_on_a_shared_budget_never_waits_on_the_store_on_the_event_loop(stall: StalledRedis) -> None:
    await shared_run_never_waits_on_the_loop(stall, script, run)
