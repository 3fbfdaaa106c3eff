"""A LangChain agent guarded by actguard, offline (a scripted chat model plays the LLM; no network, no API key).

Run: python examples/langchain_agent.py   (needs: pip install "actguard[langchain]" "langchain>=1.0")

It shows, in one create_agent run:
- chain of custody: deleting an order nobody listed is refused, and the model is told why (an error ToolMessage);
  after listing the orders, the delete goes through;
- a rate-limited tool refusing its second call, the refusal reaching the model;
- the run's spend, metered from each response's usage;
and, in a second run, a token budget stopping the agent before its next model call.
"""

from __future__ import annotations

from langchain.agents import create_agent
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool

import actguard
from actguard_langchain import ActGuardCallbackHandler, ActGuardMiddleware, guard_tool
from actguard_langchain.testing import ScriptedChatModel, answer, tool_call


@tool
def list_orders(user_id: str) -> list[dict[str, str]]:
    """List the user's orders."""
    return [{"id": "o1", "item": "lamp"}, {"id": "o2", "item": "desk"}]


@tool
def delete_order(order_id: str) -> str:
    """Delete an order by id."""
    return f"deleted {order_id}"


@tool
def notify(user_id: str, text: str) -> str:
    """Send the user a notification."""
    return "sent"


TOOLS = [
    guard_tool(list_orders, prove={"kind": "order_id", "extract": "id"}),
    guard_tool(delete_order, enforce=[actguard.RequireFact("order_id", "order_id")]),
    guard_tool(notify, rate_limit={"max_calls": 1, "period": 60, "scope": "user_id"}),
]


def show(messages: list[object]) -> None:
    for m in messages:
        if isinstance(m, ToolMessage):
            print(f"  tool {m.name:>12} [{m.status}]: {m.content}")


def guarded_run() -> None:
    print("1) custody and rate limit, refusals go back to the model")
    model = ScriptedChatModel(
        responses=[
            tool_call("delete_order", {"order_id": "o2"}, input_tokens=1200, output_tokens=40),
            tool_call("list_orders", {"user_id": "alice"}, input_tokens=1300, output_tokens=30),
            tool_call("delete_order", {"order_id": "o2"}, input_tokens=1500, output_tokens=40),
            tool_call("notify", {"user_id": "alice", "text": "o2 deleted"}, input_tokens=1600, output_tokens=40),
            tool_call("notify", {"user_id": "alice", "text": "o2 deleted!"}, input_tokens=1700, output_tokens=40),
            answer("Order o2 is deleted and you were notified.", input_tokens=1800, output_tokens=60, cache_read=1024),
        ]
    )
    guard = ActGuardMiddleware(user_id="alice", usd_limit=0.05)
    agent = create_agent(model, tools=TOOLS, middleware=[guard])
    with actguard.session("req-1", {"user_id": "alice"}):
        out = agent.invoke({"messages": [HumanMessage("Delete my desk order and tell me.")]})
    show(out["messages"])
    print(f"  answer: {out['messages'][-1].content}")
    budget = guard.last_budget
    assert budget is not None
    print(f"  spent ${budget.usd_used:.6f} for {budget.tokens_used} tokens in {budget.usage.calls} model calls\n")


def budget_stop() -> None:
    print("2) a 3,000-token budget per run stops the agent before its next model call")
    model = ScriptedChatModel(
        responses=[tool_call("list_orders", {"user_id": "bob"}, input_tokens=1500, output_tokens=100) for _ in range(5)]
    )
    handler = ActGuardCallbackHandler(user_id="bob", token_limit=3_000)
    agent = create_agent(model, tools=TOOLS)
    try:
        with actguard.session("req-2", {"user_id": "bob"}):
            agent.invoke({"messages": [HumanMessage("Loop forever.")]}, config={"callbacks": [handler]})
    except actguard.BudgetExceededError as exc:
        print(f"  stopped: {exc}")
    print(f"  the model was called {model.calls} times; the run used {handler.last_budget.tokens_used} tokens")


if __name__ == "__main__":
    guarded_run()
    budget_stop()
