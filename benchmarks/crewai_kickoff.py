"""A CrewAI kickoff with actguard's CrewBudget and a guarded tool, against the same kickoff without actguard.

Run: python benchmarks/crewai_kickoff.py   (needs: pip install "actguard[crewai]")
Prints the time per kickoff of each and their ratio (target: at most 1.05). Both run the same scripted LLM, so the
difference is what actguard adds: the before_llm_call hook, the event-bus metering and the tool guard.
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")

from crewai import Agent, Crew, Task
from crewai.tools import tool

import actguard_crewai
from actguard_crewai.testing import ScriptedLLM, final_answer, tool_call

ROUNDS = 7
KICKOFFS = 20


@tool("search")
def search(query: str) -> str:
    """Search the knowledge base."""
    return f"result for {query}"


GUARDED = actguard_crewai.guard_tool(search, rate_limit={"max_calls": 1_000_000, "period": 60})


def crew(guarded: bool) -> Crew:
    llm = ScriptedLLM([tool_call("search", {"query": f"q{i}"}) for i in range(3)] + [final_answer("done")])
    agent = Agent(
        role="researcher", goal="answer", backstory="b", llm=llm, tools=[GUARDED if guarded else search], cache=False
    )
    return Crew(agents=[agent], tasks=[Task(description="Answer.", expected_output="text", agent=agent)])


def bare() -> None:
    crew(False).kickoff()


BUDGET = actguard_crewai.CrewBudget(user_id="bench", usd_limit=1_000.0)


def guarded() -> None:
    BUDGET.kickoff(crew(True))


def per_kickoff(fn: object) -> float:
    assert callable(fn)
    start = time.perf_counter()
    for _ in range(KICKOFFS):
        fn()
    return (time.perf_counter() - start) / KICKOFFS


def main() -> None:
    bare()
    guarded()  # warm up both paths
    bare_times, guarded_times = [], []
    for _ in range(ROUNDS):  # interleaved, so drift hits both alike
        bare_times.append(per_kickoff(bare))
        guarded_times.append(per_kickoff(guarded))
    b, g = statistics.median(bare_times), statistics.median(guarded_times)
    print(f"crewai kickoff without actguard: {b * 1e3:8.3f} ms")
    print(f"crewai kickoff with CrewBudget:  {g * 1e3:8.3f} ms")
    print(f"ratio (target <= 1.05):          {g / b:8.3f}")


if __name__ == "__main__":
    main()
