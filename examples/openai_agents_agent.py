"""An OpenAI Agents SDK run under actguard, offline: a budget per run, a budget guardrail, a rate-limited tool, a
custody-checked write, and a handoff charged to the same budget.

Run: python examples/openai_agents_agent.py   (needs: pip install "actguard[openai-agents]")
The agents' model is a scripted stand-in (actguard_openai_agents.testing.ScriptedModel), so no key and no network are
needed; drop the ``model=`` arguments (or pass ``model="gpt-4o"``) to run it for real.
"""

from __future__ import annotations

import asyncio

import agents
from agents import Agent, Runner, function_tool

import actguard
from actguard_openai_agents import ActGuardRunHooks, budget_guardrail, guard_tool
from actguard_openai_agents.testing import ScriptedModel, answer, tool_call

agents.set_tracing_disabled(True)  # nothing leaves the machine


@function_tool
def list_orders(user_id: str) -> list[dict[str, str]]:
    """List the user's orders."""
    return [{"id": "o1"}, {"id": "o2"}]


@function_tool
def cancel_order(order_id: str) -> str:
    """Cancel an order by id."""
    return f"cancelled {order_id}"


@function_tool
def search_policy(query: str) -> str:
    """Search the refund policy."""
    return "Orders can be cancelled within 30 days."


read = guard_tool(list_orders, prove={"kind": "order_id", "extract": "id"})
write = guard_tool(cancel_order, enforce=[actguard.RequireFact("order_id", "order_id")])
search = guard_tool(search_policy, rate_limit={"max_calls": 1, "period": 60})

orders_agent = Agent(
    name="orders",
    instructions="Cancel orders the user owns.",
    model=ScriptedModel(
        [
            tool_call("cancel_order", {"order_id": "o9"}, input_tokens=900, output_tokens=30),  # never listed
            tool_call("list_orders", {"user_id": "alice"}, input_tokens=1000, output_tokens=20),
            tool_call("cancel_order", {"order_id": "o2"}, input_tokens=1100, output_tokens=30),
            answer("Order o2 is cancelled.", input_tokens=1200, output_tokens=40),
        ]
    ),
    tools=[read, write],
)
triage = Agent(
    name="triage",
    instructions="Answer policy questions; hand order changes to the orders agent.",
    model=ScriptedModel(
        [
            tool_call("search_policy", {"query": "cancel"}, input_tokens=500, output_tokens=20),
            tool_call("search_policy", {"query": "cancel again"}, input_tokens=600, output_tokens=20),
            tool_call("transfer_to_orders", {}, input_tokens=700, output_tokens=10),
        ],
        model="gpt-4o-mini",
    ),
    tools=[search],
    handoffs=[orders_agent],
    input_guardrails=[budget_guardrail()],  # a spent enclosing budget stops the run before any model call
)


async def main() -> None:
    hooks = ActGuardRunHooks(user_id="alice", usd_limit=0.05)
    with actguard.session("support-chat-42", {"user_id": "alice"}):
        result = await Runner.run(triage, "Please cancel my second order.", hooks=hooks)
    print("answer:", result.final_output)
    for item in result.new_items:
        if item.type == "tool_call_output_item":
            print("  tool output seen by the model:", item.output)
    budget = hooks.budget_for(result)
    assert budget is not None
    print(f"run budget: ${budget.usd_used:.6f} of $0.05, {budget.tokens_used} tokens, {budget.usage.calls} calls")
    for model, usage in sorted(budget.usage_by_model.items()):
        print(f"  {model}: {usage.calls} calls, {usage.input_tokens} in / {usage.output_tokens} out, ${usage.usd:.6f}")

    # A tight budget: the run stops before the model call that would go past it.
    tight = ActGuardRunHooks(user_id="alice", token_limit=1000)
    model = ScriptedModel([tool_call("search_policy", {"query": "q"}, input_tokens=1200), answer("never")])
    try:
        await Runner.run(Agent(name="solo", model=model, tools=[search_policy]), "hi", hooks=tight)
    except actguard.BudgetExceededError as exc:
        print(f"stopped after {model.calls} model call: {exc}")


if __name__ == "__main__":
    asyncio.run(main())
