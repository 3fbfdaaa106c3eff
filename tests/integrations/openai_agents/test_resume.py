"""Resume after a budget stop: a Runner run with a session stops at its limit, and the next run on the same session
continues under a new budget from where it stopped, without repeating the tool calls already made.

The session must hold the items of the stopped run: openai-agents saves them turn by turn in recent releases; older
ones (the lowest tested, 0.2.11) save a run's items only when it ends, so a stopped run leaves nothing to resume.
"""

from __future__ import annotations

from contract import require

require("agents")

from typing import Any  # noqa: E402

import pytest  # noqa: E402
from agents import Agent, Runner, SQLiteSession, function_tool  # noqa: E402

from actguard import BudgetExceededError, BudgetGuard  # noqa: E402
from actguard_openai_agents import ActGuardRunHooks  # noqa: E402
from actguard_openai_agents.testing import ScriptedModel, answer, tool_call  # noqa: E402

pytestmark = pytest.mark.usefixtures("store")


def scripted() -> tuple[ScriptedModel, list[str], Any]:
    ran: list[str] = []

    @function_tool
    def search(query: str) -> str:
        """Search the knowledge base."""
        ran.append(query)
        return f"result for {query}"

    steps = [tool_call("search", {"query": f"q{i}"}, input_tokens=500, output_tokens=100) for i in range(3)]
    return ScriptedModel([*steps, answer("done")]), ran, search


async def stopped_run(agent: Agent[Any], session: SQLiteSession, hooks: ActGuardRunHooks) -> None:
    with pytest.raises(BudgetExceededError):
        await Runner.run(agent, "find it", hooks=hooks, session=session)
    if not await session.get_items():
        pytest.skip("this openai-agents release saves a session's items only when the run ends")


async def resume(agent: Agent[Any], session: SQLiteSession, hooks: ActGuardRunHooks) -> Any:
    try:
        return await Runner.run(agent, [], hooks=hooks, session=session)  # nothing new: continue the conversation
    except Exception as exc:  # releases that take only a string with a session
        if "session" not in str(exc):
            raise
        return await Runner.run(agent, "continue", hooks=hooks, session=session)


async def test_a_stopped_run_resumes_under_a_raised_limit_without_repeating_tools() -> None:
    model, ran, search = scripted()
    agent = Agent(name="a", model=model, tools=[search])
    session = SQLiteSession("resume-1")
    await stopped_run(agent, session, ActGuardRunHooks(token_limit=1000))  # 600, 1200: the third call is refused
    assert ran == ["q0", "q1"] and model.calls == 2

    hooks = ActGuardRunHooks(token_limit=10_000)  # the user raises the limit: a new budget takes over
    result = await resume(agent, session, hooks)
    assert result.final_output == "done"
    assert ran == ["q0", "q1", "q2"]  # each tool call made once across the stop
    assert model.tool_outputs() == ["result for q0", "result for q1", "result for q2"]  # the model saw them all
    assert hooks.last_budget is not None and hooks.last_budget.tokens_used == 600 + 120


async def test_an_enclosing_budget_that_stopped_the_run_can_be_replaced() -> None:
    model, ran, search = scripted()
    agent = Agent(name="a", model=model, tools=[search])
    session = SQLiteSession("resume-2")
    with BudgetGuard(usd_limit=0.004):  # about $0.0023 a call: crossed by the second
        await stopped_run(agent, session, ActGuardRunHooks())
    async with BudgetGuard(usd_limit=1.0) as raised:
        result = await resume(agent, session, ActGuardRunHooks())
    assert result.final_output == "done" and ran == ["q0", "q1", "q2"]
    assert raised.usage.calls == 2
