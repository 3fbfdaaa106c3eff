"""An OpenAI Agents SDK run with actguard's run hooks, against the same run without.

Run: python benchmarks/openai_agents.py   (needs: pip install "actguard[openai-agents]")

The agent is built once and run many times, as an application does. Every run plays the same scripted model (three
tool calls, then an answer) through ``Runner.run``. Printed: CPU time per run (``time.process_time``, so other
processes on the machine do not skew it; best of several interleaved rounds) of

- the bare run,
- the run with a do-nothing ``RunHooks`` that overrides the same two hooks: the SDK's own price for any hooks,
- the run with ``ActGuardRunHooks`` (a budget per run: check before each model call, metering after it),

and the ratios: guarded / bare (target: at most 1.05) and guarded / stand-in (what actguard's own code costs).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import agents
from agents import Agent, RunHooks, Runner, function_tool

from actguard_openai_agents import ActGuardRunHooks
from actguard_openai_agents.testing import ScriptedModel, answer, tool_call

agents.set_tracing_disabled(True)

ROUNDS = 9
RUNS = 40


@function_tool
def search(query: str) -> str:
    """Search the knowledge base."""
    return f"result for {query}"


class NoopHooks(RunHooks[Any]):
    """The hooks ActGuardRunHooks overrides, doing nothing."""

    async def on_llm_start(self, context: Any, agent: Any, system_prompt: Any, input_items: Any) -> None:
        return None

    async def on_llm_end(self, context: Any, agent: Any, response: Any) -> None:
        return None


MODEL = ScriptedModel([*(tool_call("search", {"query": f"q{i}"}) for i in range(3)), answer("done")], cycle=True)
AGENT = Agent(name="bench", instructions="Answer.", model=MODEL, tools=[search])
NOOP = NoopHooks()
HOOKS = ActGuardRunHooks(user_id="bench", usd_limit=1_000.0)


async def bare() -> Any:
    return await Runner.run(AGENT, "find it")


async def stand_in() -> Any:
    return await Runner.run(AGENT, "find it", hooks=NOOP)


async def guarded() -> Any:
    return await Runner.run(AGENT, "find it", hooks=HOOKS)


async def per_run(fn: Callable[[], Any]) -> float:
    start = time.process_time()
    for _ in range(RUNS):
        await fn()
    return (time.process_time() - start) / RUNS


async def main() -> None:
    for fn in (bare, stand_in, guarded):
        assert (await fn()).final_output == "done"  # warm up, and check each arm runs the whole script
    assert HOOKS.last_budget is not None and HOOKS.last_budget.usage.calls == 4
    times: dict[str, list[float]] = {"bare": [], "stand_in": [], "guarded": []}
    for _ in range(ROUNDS):  # interleaved, so drift hits every arm alike
        times["bare"].append(await per_run(bare))
        times["stand_in"].append(await per_run(stand_in))
        times["guarded"].append(await per_run(guarded))
    b, s, g = (min(times[k]) for k in ("bare", "stand_in", "guarded"))
    print(f"openai-agents {agents.__version__}: Runner.run, 3 tool calls + answer")
    print(f"run, bare:                        {b * 1e3:8.3f} ms CPU")
    print(f"run, do-nothing RunHooks:         {s * 1e3:8.3f} ms CPU")
    print(f"run, ActGuardRunHooks:            {g * 1e3:8.3f} ms CPU")
    print(f"ratio guarded / bare (target <= 1.05): {g / b:6.3f}")
    print(f"ratio guarded / do-nothing hooks:      {g / s:6.3f}")


if __name__ == "__main__":
    asyncio.run(main())
