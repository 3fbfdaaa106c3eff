"""A pydantic-ai agent run guarded by actguard (its model wrapper or its capability, and a guarded tool), against the
same run without.

Run: python benchmarks/pydantic_ai_agent.py   (needs: pip install "actguard[pydantic-ai]")

The agents are built once and run many times, as an application does. Every run plays the same scripted model
(actguard_pydantic_ai.testing.ScriptedModel, pydantic-ai's FunctionModel: three tool calls, then an answer) through
``agent.run``. Printed: CPU time per run (``time.process_time``, so other processes on the machine do not skew it;
best of several interleaved rounds) of

- the bare run,
- the run on ``ActGuardModel`` (a budget per run: check before each model request, metering after it) with the tool
  under ``guard_tool(rate_limit=...)``,
- the run with a do-nothing capability overriding the same hooks (``wrap_run``, ``wrap_model_request``), on a tool
  wrapped by a do-nothing function: pydantic-ai's own price for any capability,
- the run with ``ActGuardCapability`` (the same budget rule, through capability hooks) and the guarded tool,

and the ratios: model-guarded / bare (target: at most 1.05), capability-guarded / bare, and capability-guarded /
do-nothing capability (what actguard's own code costs there).

CPU time on a shared machine varies by a few percent between runs; instruction counts do not. ``--only ARM --runs N``
runs one arm (bare, model, stand_in, capability) N times and prints nothing, for counting instructions per run as
the difference of two counts, e.g.::

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        python benchmarks/pydantic_ai_agent.py --only model --runs 60    # minus the same with --runs 10, / 50
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import time
from typing import Any

import pydantic_ai
from pydantic_ai import Agent
from pydantic_ai.capabilities import AbstractCapability

from actguard_pydantic_ai import ActGuardCapability, ActGuardModel, guard_tool
from actguard_pydantic_ai.testing import ScriptedModel, answer, tool_call

ROUNDS = 30
RUNS = 20


def search(query: str) -> str:
    """Search the knowledge base."""
    return f"result for {query}"


@functools.wraps(search)
def search_passthrough(query: str) -> str:
    return search(query)


class NoopCapability(AbstractCapability[Any]):
    """The hooks ActGuardCapability overrides, doing nothing."""

    async def for_run(self, ctx: Any) -> NoopCapability:
        return self

    async def wrap_run(self, ctx: Any, *, handler: Any) -> Any:
        return await handler()

    async def wrap_model_request(self, ctx: Any, *, request_context: Any, handler: Any) -> Any:
        return await handler(request_context)


def scripted() -> ScriptedModel:
    return ScriptedModel([*(tool_call("search", {"query": f"q{i}"}) for i in range(3)), answer("done")], cycle=True)


def guarded_search() -> Any:
    return guard_tool(search, rate_limit={"max_calls": 1_000_000, "period": 60})


CAPABILITY = ActGuardCapability(user_id="bench", usd_limit=1_000.0)
MODEL = ActGuardModel(scripted(), user_id="bench", usd_limit=1_000.0)
BARE = Agent(scripted(), tools=[search])
MODEL_GUARDED = Agent(MODEL, tools=[guarded_search()])
STAND_IN = Agent(scripted(), tools=[search_passthrough], capabilities=[NoopCapability()])
GUARDED = Agent(scripted(), tools=[guarded_search()], capabilities=[CAPABILITY])


async def per_run(agent: Agent[None, str]) -> float:
    start = time.process_time()
    for _ in range(RUNS):
        await agent.run("find it")
    return (time.process_time() - start) / RUNS


ARMS: dict[str, Agent[None, str]] = {"bare": BARE, "model": MODEL_GUARDED, "stand_in": STAND_IN, "capability": GUARDED}


async def main() -> None:
    arms = ARMS
    for agent in arms.values():
        assert (await agent.run("find it")).output == "done"  # warm up, and check each arm runs the whole script
    for guard in (MODEL, CAPABILITY):
        assert guard.last_budget is not None and guard.last_budget.usage.calls == 4
    times: dict[str, list[float]] = {name: [] for name in arms}
    for _ in range(ROUNDS):  # interleaved, so drift hits every arm alike
        for name, agent in arms.items():
            times[name].append(await per_run(agent))
    b, m, s, c = (min(times[k]) for k in ("bare", "model", "stand_in", "capability"))

    def ratio(arm: str, base: str) -> float:  # paired by round: both measured in the same state of the machine
        return statistics.median(x / y for x, y in zip(times[arm], times[base], strict=True))

    print(f"pydantic-ai {pydantic_ai.__version__}: agent.run, 3 tool calls + answer (FunctionModel)")
    print(f"run, bare:                                {b * 1e3:8.3f} ms CPU")
    print(f"run, ActGuardModel + guard_tool:          {m * 1e3:8.3f} ms CPU")
    print(f"run, do-nothing capability + wrapper:     {s * 1e3:8.3f} ms CPU")
    print(f"run, ActGuardCapability + guard_tool:     {c * 1e3:8.3f} ms CPU")
    print("ratios, the median over rounds of each round's ratio:")
    print(f"ActGuardModel / bare (target <= 1.05):            {ratio('model', 'bare'):6.3f}")
    print(f"ActGuardCapability / bare:                        {ratio('capability', 'bare'):6.3f}")
    print(f"ActGuardCapability / do-nothing capability:       {ratio('capability', 'stand_in'):6.3f}")


async def only(arm: str, runs: int) -> None:
    agent = ARMS[arm]
    for _ in range(runs):
        await agent.run("find it")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(ARMS), help="run this arm only (no timing, no output)")
    parser.add_argument("--runs", type=int, default=RUNS, help="how many runs of --only's arm")
    args = parser.parse_args()
    asyncio.run(only(args.only, args.runs) if args.only else main())
