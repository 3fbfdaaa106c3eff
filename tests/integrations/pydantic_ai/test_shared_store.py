"""ActGuardCapability and ActGuardModel with a shared per-run budget: its store work runs off the event loop, and a
stalled store fails the run closed while the loop keeps serving other tasks."""

from __future__ import annotations

from contract import require

require("pydantic_ai")


from typing import Any  # noqa: E402

import pytest  # noqa: E402
from contract import StalledRedis, shared_run_never_waits_on_the_loop, stalled_store_fails_the_run_closed_off_the_loop  # noqa: E402
from pydantic_ai_harness import guarded  # noqa: E402

from actguard import BudgetGuard  # noqa: E402
from actguard_pydantic_ai.testing import ScriptedModel, answer, tool_call  # noqa: E402

pytestmark = pytest.mark.usefixtures("store")


def search(query: str) -> str:
    """Search the knowledge base for the query."""
    return f"result for {query}"


def script() -> ScriptedModel:
    return ScriptedModel([tool_call("search", {"query": "q"}, input_tokens=50, output_tokens=10), answer("done")])


def runner(via: str) -> Any:
    async def run(model: ScriptedModel, user_id: str, **options: Any) -> BudgetGuard | None:
        agent, guard = guarded(via, model, tools=[search], user_id=user_id, token_limit=10_000, **options)
        return guard.budget_for(await agent.run("go"))

    return run


async def test_a_stalled_store_fails_the_run_closed_without_blocking_the_event_loop(
    stall: StalledRedis, via: str
) -> None:
    await stalled_store_fails_the_run_closed_off_the_loop(stall, script, runner(via))


async def test_a_run_on_a_shared_budget_never_waits_on_the_store_on_the_event_loop(
    stall: StalledRedis, via: str
) -> None:
    await shared_run_never_waits_on_the_loop(stall, script, runner(via))
