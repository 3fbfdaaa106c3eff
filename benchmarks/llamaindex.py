"""A LlamaIndex FunctionAgent run with actguard's adapter, against the same run without.

Run: python benchmarks/llamaindex.py   (needs: pip install "actguard[llamaindex]")

Each agent is built once and run many times in one event loop, as an application does. Every run plays the same
scripted function-calling LLM (three tool calls, then an answer). Printed: CPU time per run (``time.process_time``,
so other processes on the machine do not skew it; best of several interleaved rounds, garbage collection paused
while timing as timeit does) of

- the bare agent (a plain ``FunctionTool``, ``agent.run``),
- the agent with a do-nothing callback handler on its LLM: LlamaIndex's own price for any callback handler,
- the agent with actguard: ``ActGuardHandler.run`` (a budget per run, checked before and metered after each LLM
  call) and the tool wrapped by ``guard_tool`` (with a rate limit),

and the ratios: guarded / bare (target: at most 1.05) and guarded / do-nothing handler.
"""

from __future__ import annotations

import asyncio
import gc
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

with warnings.catch_warnings():  # llama-index-core 0.12 warns about its own pydantic use on import
    warnings.simplefilter("ignore")
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.core.callbacks import CallbackManager
    from llama_index.core.callbacks.base_handler import BaseCallbackHandler
    from llama_index.core.tools import FunctionTool

import actguard
from actguard_llamaindex import ActGuardHandler, guard_tool
from actguard_llamaindex.testing import ScriptedLLM, answer, tool_call

ROUNDS = 20
RUNS = 30


async def search(query: str) -> str:  # async: no executor thread hop to blur the CPU times
    """Search the knowledge base."""
    return f"result for {query}"


def llm(*handlers: BaseCallbackHandler) -> ScriptedLLM:
    replies = [*(tool_call("search", {"query": f"q{i}"}) for i in range(3)), answer("done")]
    model = ScriptedLLM(replies, per_conversation=True)
    # A handler list of its own (an empty CallbackManager would share Settings.callback_manager's list, if any).
    model.callback_manager = CallbackManager(list(handlers) or [_Noop()])
    model.callback_manager.handlers = list(handlers)
    return model


def agent(model: ScriptedLLM, tool: FunctionTool) -> FunctionAgent:
    return FunctionAgent(name="bench", description="Benchmark agent.", tools=[tool], llm=model)


class _Noop(BaseCallbackHandler):
    def __init__(self) -> None:
        super().__init__(event_starts_to_ignore=[], event_ends_to_ignore=[])

    def on_event_start(
        self, event_type: Any, payload: Any = None, event_id: str = "", parent_id: str = "", **kw: Any
    ) -> str:
        return event_id

    def on_event_end(self, event_type: Any, payload: Any = None, event_id: str = "", **kw: Any) -> None:
        return None

    def start_trace(self, trace_id: str | None = None) -> None:
        return None

    def end_trace(self, trace_id: str | None = None, trace_map: Any = None) -> None:
        return None


GUARD = ActGuardHandler(user_id="bench", usd_limit=1_000.0)
BARE = agent(llm(), FunctionTool.from_defaults(search))
STAND_IN = agent(llm(_Noop()), FunctionTool.from_defaults(search))
GUARDED = agent(llm(), guard_tool(search, rate_limit={"max_calls": 1_000_000, "period": 60}))


async def bare() -> Any:
    return await BARE.run(user_msg="find it")


async def stand_in() -> Any:
    return await STAND_IN.run(user_msg="find it")


async def guarded() -> Any:
    return await GUARD.run(GUARDED, user_msg="find it")


async def per_run(fn: Callable[[], Awaitable[Any]]) -> float:
    gc.collect()
    gc.disable()  # as timeit does: a collection landing in one arm's round is not that arm's cost
    try:
        start = time.process_time()
        for _ in range(RUNS):
            await fn()
        return (time.process_time() - start) / RUNS
    finally:
        gc.enable()


async def main() -> None:
    for fn in (bare, stand_in, guarded):
        assert str(await fn()) == "done"  # warm up, and check each arm runs the whole script
    spent = GUARD.last_budget
    assert spent is not None and spent.usage.calls == 4, spent
    with actguard.BudgetGuard() as outside:
        await bare()
    assert outside.tokens_used == 0, "the bare agent's LLM must not be metered"
    times: dict[str, list[float]] = {"bare": [], "stand_in": [], "guarded": []}
    for _ in range(ROUNDS):  # interleaved, so drift hits every arm alike
        times["bare"].append(await per_run(bare))
        times["stand_in"].append(await per_run(stand_in))
        times["guarded"].append(await per_run(guarded))
    b, s, g = (min(times[k]) for k in ("bare", "stand_in", "guarded"))
    print(f"FunctionAgent run, bare:                     {b * 1e3:8.3f} ms CPU")
    print(f"FunctionAgent run, do-nothing handler:       {s * 1e3:8.3f} ms CPU")
    print(f"FunctionAgent run, actguard (run + tool):    {g * 1e3:8.3f} ms CPU")
    print(f"ratio guarded / bare (target <= 1.05):       {g / b:8.3f}")
    print(f"ratio guarded / do-nothing handler:          {g / s:8.3f}")


if __name__ == "__main__":
    asyncio.run(main())
