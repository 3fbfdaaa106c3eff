"""A CrewAI crew under actguard, offline: a budget per kickoff, a rate-limited tool, a custody-checked write.

Run: python examples/crewai_agent.py   (needs: pip install "actguard[crewai]")
The crew's LLM is a scripted stand-in (actguard_crewai.testing.ScriptedLLM), so no key and no network are needed;
swap in crewai.LLM(model="gpt-4o") to run it for real.
"""

from __future__ import annotations

import os

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")

from crewai import Agent, Crew, Task
from crewai.tools import tool

import actguard
import actguard_crewai
from actguard_crewai.testing import ScriptedLLM, final_answer, tool_call


@tool("list_orders")
def list_orders(user_id: str) -> list[dict[str, str]]:
    """List the user's orders."""
    return [{"id": "o1"}, {"id": "o2"}]


@tool("cancel_order")
def cancel_order(order_id: str) -> str:
    """Cancel an order by id."""
    return f"cancelled {order_id}"


tools = [
    actguard_crewai.guard_tool(list_orders, prove={"kind": "order_id", "extract": "id"}),
    actguard_crewai.guard_tool(
        cancel_order,
        enforce=[actguard.RequireFact("order_id", "order_id")],
        rate_limit={"max_calls": 5, "period": 60},
    ),
]


def build_crew(llm: ScriptedLLM) -> Crew:
    agent = Agent(role="support", goal="Help the customer", backstory="A careful agent.", llm=llm, tools=tools)
    task = Task(description="Cancel the customer's latest order.", expected_output="a confirmation", agent=agent)
    return Crew(agents=[agent], tasks=[task], verbose=False)


def main() -> None:
    llm = ScriptedLLM(
        [
            tool_call("cancel_order", {"order_id": "o9"}),  # an id the agent never read: refused
            tool_call("list_orders", {"user_id": "alice"}),
            tool_call("cancel_order", {"order_id": "o1"}),
            final_answer("Order o1 is cancelled."),
        ]
    )
    budget = actguard_crewai.CrewBudget(user_id="alice", usd_limit=0.05)
    with actguard.session("req-1", {"user_id": "alice"}):
        result = budget.kickoff(build_crew(llm))
    print("answer:", result.raw)
    print("the model saw:", *llm.observations, sep="\n  ")
    spent = budget.last_budget
    assert spent is not None
    print(f"spent ${spent.usd_used:.6f} in {spent.tokens_used} tokens; per agent: {budget.last_by_agent}")

    # A budget too small for the job: the crew is stopped before its next LLM call.
    llm = ScriptedLLM([tool_call("list_orders", {"user_id": "bob"}, input_tokens=4000)] * 5)
    try:
        with actguard.session("req-2", {"user_id": "bob"}):
            actguard_crewai.CrewBudget(user_id="bob", usd_limit=0.02).kickoff(build_crew(llm))
    except actguard.BudgetExceededError as exc:
        print(f"stopped after {llm.calls} LLM calls: {exc}")


if __name__ == "__main__":
    main()
