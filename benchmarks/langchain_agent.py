"""A langchain v1 create_agent run with actguard's callback handler and middleware, against the same run without.

Run: python benchmarks/langchain_agent.py   (needs: pip install "actguard[langchain]" "langchain>=1.0")

Each agent is built once and invoked many times, as an application does. Every run plays the same scripted chat
model (three tool calls, then an answer). Printed: CPU time per run (``time.process_time``, so other processes on
the machine do not skew it; best of several interleaved rounds) of

- the bare agent,
- the agent with do-nothing stand-ins for what actguard adds (an empty handler and a middleware with the same hooks
  doing nothing): LangChain's own price for any callback handler and any middleware,
- the agent with ``ActGuardCallbackHandler`` and ``ActGuardMiddleware`` (budget check, metering, tool wrapper),

and the ratios: guarded / bare (target: at most 1.05) and guarded / stand-ins (what actguard's own code costs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool

from actguard_langchain import ActGuardCallbackHandler, ActGuardMiddleware
from actguard_langchain.testing import ScriptedChatModel, answer, tool_call

ROUNDS = 9
RUNS = 40
INPUT = {"messages": [HumanMessage("find it")]}


@tool
def search(query: str) -> str:
    """Search the knowledge base."""
    return f"result for {query}"


MODEL = ScriptedChatModel(
    responses=[*(tool_call("search", {"query": f"q{i}"}) for i in range(3)), answer("done")], per_conversation=True
)


class NoopHandler(BaseCallbackHandler):
    raise_error = True
    run_inline = True


class NoopMiddleware(AgentMiddleware):  # type: ignore[type-arg]
    """The hooks ActGuardMiddleware uses, doing nothing."""

    def before_agent(self, state: Any, runtime: Any) -> None:
        return None

    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        return handler(request)

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        return handler(request)


HANDLER = ActGuardCallbackHandler(user_id="bench", usd_limit=1_000.0)
BARE = create_agent(MODEL, tools=[search])
STAND_INS = create_agent(MODEL, tools=[search], middleware=[NoopMiddleware()])
GUARDED = create_agent(MODEL, tools=[search], middleware=[ActGuardMiddleware(handler=HANDLER)])
NOOP = NoopHandler()


def bare() -> Any:
    return BARE.invoke(INPUT)


def stand_ins() -> Any:
    return STAND_INS.invoke(INPUT, {"callbacks": [NOOP]})


def guarded() -> Any:
    return GUARDED.invoke(INPUT, {"callbacks": [HANDLER]})


def per_run(fn: Callable[[], Any]) -> float:
    start = time.process_time()
    for _ in range(RUNS):
        fn()
    return (time.process_time() - start) / RUNS


def main() -> None:
    for fn in (bare, stand_ins, guarded):
        assert fn()["messages"][-1].content == "done"  # warm up, and check each arm runs the whole script
    assert HANDLER.last_budget is not None and HANDLER.last_budget.usage.calls == 4
    times: dict[str, list[float]] = {"bare": [], "stand_ins": [], "guarded": []}
    for _ in range(ROUNDS):  # interleaved, so drift hits every arm alike
        times["bare"].append(per_run(bare))
        times["stand_ins"].append(per_run(stand_ins))
        times["guarded"].append(per_run(guarded))
    b, s, g = (min(times[k]) for k in ("bare", "stand_ins", "guarded"))
    print(f"create_agent run, bare:                           {b * 1e3:8.3f} ms CPU")
    print(f"create_agent run, do-nothing handler + middleware: {s * 1e3:8.3f} ms CPU")
    print(f"create_agent run, actguard handler + middleware:   {g * 1e3:8.3f} ms CPU")
    print(f"ratio guarded / bare (target <= 1.05):             {g / b:8.3f}")
    print(f"ratio guarded / do-nothing stand-ins:              {g / s:8.3f}")


if __name__ == "__main__":
    main()
