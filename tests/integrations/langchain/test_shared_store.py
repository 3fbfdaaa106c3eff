"""ActGuardMiddleware with a shared per-run budget, on the async path (``ainvoke``): its store work runs off the
event loop, and a stalled store fails the run closed while the loop keeps serving other tasks.

Follow-up: ActGuardCallbackHandler is a sync, ``run_inline`` handler, so its check still runs on the loop."""

from __future__ import annotations

from contract import require

require("langchain_core")

from langchain_harness import require_langchain_v1  # noqa: E402

require_langchain_v1()


from typing import Any  # noqa: E402

from contract import StalledRedis, shared_run_never_waits_on_the_loop, stalled_store_fails_the_run_closed_off_the_loop  # noqa: E402
from langchain.agents import create_agent  # noqa: E402
from langchain_core.messages import HumanMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402

from actguard import BudgetGuard  # noqa: E402
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


async def run(model: ScriptedChatModel, user_id: str, **options: Any) -> BudgetGuard | None:
    middleware = ActGuardMiddleware(user_id=user_id, token_limit=10_000, **options)
    await create_agent(model, tools=[search], middleware=[middleware]).ainvoke(INPUT)
    return middleware.last_budget


async def test_a_stalled_store_fails_the_run_closed_without_blocking_the_event_loop(stall: StalledRedis) -> None:
    await stalled_store_fails_the_run_closed_off_the_loop(stall, script, run)


async def test_a_run_on_a_shared_budget_never_waits_on_the_store_on_the_event_loop(stall: StalledRedis) -> None:
    await shared_run_never_waits_on_the_loop(stall, script, run)
