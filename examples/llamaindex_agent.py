"""A LlamaIndex FunctionAgent guarded by actguard, offline (a scripted LLM plays the model; no network, no API key).

Run: python examples/llamaindex_agent.py   (needs: pip install "actguard[llamaindex]")

It shows, in one agent run started with ``ActGuardHandler.run`` (a budget of its own) and its events streamed:
- chain of custody: deleting an order nobody listed is refused, and the model is told why (an error ToolOutput);
  after listing the orders, the delete goes through;
- a rate-limited tool refusing its second call, the refusal reaching the model;
- the run's spend, metered from each response's usage;
and, in a second run, a token budget stopping the agent before its next LLM call.
"""

from __future__ import annotations

import asyncio
import warnings

with warnings.catch_warnings():  # llama-index-core 0.12 warns about its own pydantic use on import
    warnings.simplefilter("ignore")
    from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult

import actguard
from actguard_llamaindex import ActGuardHandler, budget_error, guard_tool
from actguard_llamaindex.testing import ScriptedLLM, answer, tool_call


def list_orders(user_id: str) -> list[dict[str, str]]:
    """List the user's orders."""
    return [{"id": "o1", "item": "lamp"}, {"id": "o2", "item": "desk"}]


def delete_order(order_id: str) -> str:
    """Delete an order by id."""
    return f"deleted {order_id}"


def notify(user_id: str, text: str) -> str:
    """Send the user a notification."""
    return "sent"


TOOLS = [
    guard_tool(list_orders, prove={"kind": "order_id", "extract": "id"}),
    guard_tool(delete_order, enforce=[actguard.RequireFact("order_id", "order_id")]),
    guard_tool(notify, rate_limit={"max_calls": 1, "period": 60, "scope": "user_id"}),
]


def agent(llm: ScriptedLLM) -> FunctionAgent:
    return FunctionAgent(
        name="support", description="Handles order requests.", system_prompt="Help the user.", tools=TOOLS, llm=llm
    )


async def custody_and_refusals() -> None:
    llm = ScriptedLLM(
        [
            tool_call("delete_order", {"order_id": "o9"}),  # never listed: refused, the model is told why
            tool_call("list_orders", {"user_id": "alice"}),  # proves o1 and o2
            tool_call("delete_order", {"order_id": "o1"}),  # now allowed
            tool_call("notify", {"user_id": "alice", "text": "o1 deleted"}),
            tool_call("notify", {"user_id": "alice", "text": "again"}),  # rate limited: 1 per minute
            answer("Order o1 is deleted and you have been notified."),
        ]
    )
    guard = ActGuardHandler(user_id="alice", usd_limit=0.05)
    with actguard.session("req-1", {"user_id": "alice"}):
        handler = guard.run(agent(llm), user_msg="Delete my lamp order and tell me when it is done.")
        async for event in handler.stream_events():
            if isinstance(event, ToolCallResult):
                mark = "refused" if event.tool_output.is_error else "ok"
                print(f"  tool {event.tool_name}({event.tool_kwargs}) -> [{mark}] {event.tool_output.content}")
        result = await handler
    print("answer:", result)
    spent = guard.budget_for(handler)
    assert spent is not None
    print(f"spent: ${spent.usd_used:.6f} over {spent.usage.calls} LLM calls, {spent.tokens_used} tokens")


async def budget_stop() -> None:
    llm = ScriptedLLM([tool_call("list_orders", {"user_id": "bob"}, input_tokens=900, output_tokens=200)] * 5)
    guard = ActGuardHandler(user_id="bob", token_limit=2_000)
    with actguard.session("req-2", {"user_id": "bob"}):
        handler = guard.run(agent(llm), user_msg="List my orders, over and over.")
        try:
            await handler
        except Exception as exc:
            error = budget_error(exc)
            if error is None:
                raise
            print(f"stopped after {llm.calls} LLM calls: {error}")


if __name__ == "__main__":
    print("run 1: custody, a rate limit, the run's spend")
    asyncio.run(custody_and_refusals())
    print("run 2: a token budget stops the agent")
    asyncio.run(budget_stop())
