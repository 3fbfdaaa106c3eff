"""Resume after a budget stop: a langchain v1 agent with a LangGraph checkpointer stops at its limit, and the same
thread continues under a new budget from where it stopped, without repeating the tool calls already made."""

from __future__ import annotations

from contract import require

require("langchain_core")

from langchain_harness import require_langchain_v1  # noqa: E402

require_langchain_v1()

import pytest  # noqa: E402

require("langgraph.checkpoint.memory")

import asyncio  # noqa: E402
import threading  # noqa: E402
from typing import Any  # noqa: E402

import langchain.agents.middleware  # noqa: E402
from langchain.agents import create_agent  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage  # noqa: E402
from langchain_core.tools import StructuredTool, tool  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402

from actguard import BudgetExceededError, BudgetGuard  # noqa: E402
from actguard.exceptions import ActGuardWarning  # noqa: E402
from actguard_langchain import ActGuardMiddleware, _middleware  # noqa: E402
from actguard_langchain.testing import ScriptedChatModel, answer, tool_call  # noqa: E402

INPUT = {"messages": [HumanMessage("find it")]}

# The middleware's budget of a resumed run is kept in the run's state by its first model call (langchain >= 1.2.9).
keeps_resumed_budget = pytest.mark.skipif(
    not hasattr(langchain.agents.middleware, "ExtendedModelResponse"),
    reason="before langchain 1.2.9 a model-call hook cannot update the state (see the warning test)",
)


def scripted(steps: int = 3) -> tuple[ScriptedChatModel, list[str], Any]:
    """A model that calls ``search`` ``steps`` times (600 tokens a call), then answers "done" (120 tokens)."""
    ran: list[str] = []

    @tool
    def search(query: str) -> str:
        """Search the knowledge base."""
        ran.append(query)
        return f"result for {query}"

    calls = [tool_call("search", {"query": f"q{i}"}, input_tokens=500, output_tokens=100) for i in range(steps)]
    # per_conversation: the reply is picked by the conversation's turn, so a resumed run continues the script.
    return ScriptedChatModel(responses=[*calls, answer("done")], per_conversation=True), ran, search


def test_a_stopped_thread_resumes_under_a_raised_budget_without_repeating_tools() -> None:
    model, ran, search = scripted()
    agent = create_agent(model, tools=[search], middleware=[ActGuardMiddleware()], checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "t1"}}
    with pytest.raises(BudgetExceededError), BudgetGuard(token_limit=1000):
        agent.invoke(INPUT, config)  # 600, 1200: the third model call is refused
    assert ran == ["q0", "q1"] and model.calls == 2

    with BudgetGuard(token_limit=10_000) as raised:  # the user raises the limit: a new guard takes over
        out = agent.invoke(None, config)  # None: continue the thread from its last checkpoint
    assert out["messages"][-1].content == "done"
    assert ran == ["q0", "q1", "q2"]  # each tool call made once across the stop
    assert model.calls == 4 and raised.tokens_used == 600 + 120  # only the two calls made after the resume
    tools = [m.content for m in out["messages"] if isinstance(m, ToolMessage)]
    assert tools == ["result for q0", "result for q1", "result for q2"]
    assert sum(isinstance(m, AIMessage) for m in out["messages"]) == 4


@keeps_resumed_budget
def test_the_middlewares_per_run_budget_starts_afresh_on_resume() -> None:
    model, ran, search = scripted()
    mw = ActGuardMiddleware(token_limit=1000)
    agent = create_agent(model, tools=[search], middleware=[mw], checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "t2"}}
    with pytest.raises(BudgetExceededError):
        agent.invoke(INPUT, config)
    first = mw.last_budget
    assert ran == ["q0", "q1"] and first is not None and first.tokens_used == 1200
    out = agent.invoke(None, config)  # the resumed invocation is a new run with 1000 tokens of its own
    assert out["messages"][-1].content == "done" and ran == ["q0", "q1", "q2"]
    resumed = mw.last_budget
    assert resumed is not first and resumed is not None and resumed.tokens_used == 600 + 120


async def invoke(agent: Any, inputs: Any, config: Any, asynchronous: bool) -> Any:
    return await agent.ainvoke(inputs, config) if asynchronous else agent.invoke(inputs, config)


@keeps_resumed_budget
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
async def test_a_resumed_run_whose_calls_together_cross_the_limit_stops_after_the_crossing_call(
    asynchronous: bool,
) -> None:
    model, ran, search = scripted(steps=5)
    mw = ActGuardMiddleware(token_limit=1000)
    agent = create_agent(model, tools=[search], middleware=[mw], checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "t3"}}
    with pytest.raises(BudgetExceededError):
        await invoke(agent, INPUT, config, asynchronous)  # 600, 1200: the third call is refused
    first = mw.last_budget
    with pytest.raises(BudgetExceededError) as info:
        await invoke(agent, None, config, asynchronous)  # 600 (q2), 1200 (q3, crosses 1000): the next is refused
    resumed = mw.last_budget
    assert resumed is not first and resumed is not None and resumed.tokens_used == 1200
    assert info.value.used == 1200 and info.value.limit == 1000
    assert ran == ["q0", "q1", "q2", "q3"] and model.calls == 4


class Rendezvous:
    """Holds each of ``n`` parties until all have arrived (threads or asyncio tasks), so concurrent runs interleave."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.arrived = 0
        self.lock = threading.Lock()
        self.all_here = threading.Event()

    def arrive(self) -> None:
        with self.lock:
            self.arrived += 1
            if self.arrived >= self.n:
                self.all_here.set()

    def wait(self) -> None:
        self.arrive()
        self.all_here.wait(timeout=10)

    async def await_all(self) -> None:
        self.arrive()
        for _ in range(1000):  # polls: an asyncio.Event belongs to one loop, and the timeout keeps a failure short
            if self.all_here.is_set():
                return
            await asyncio.sleep(0.01)


def lockstep_search(first_q2: Rendezvous) -> tuple[list[str], Any]:
    """A search tool (sync and async) that waits at ``first_q2`` for query "q2"; and the queries it ran."""
    ran: list[str] = []

    def search_sync(query: str) -> str:
        if query == "q2":
            first_q2.wait()
        ran.append(query)
        return f"result for {query}"

    async def search_async(query: str) -> str:
        if query == "q2":
            await first_q2.await_all()
        ran.append(query)
        return f"result for {query}"

    return ran, StructuredTool.from_function(search_sync, coroutine=search_async, name="search", description="Search.")


@keeps_resumed_budget
@pytest.mark.parametrize("concurrency", ["threads", "tasks"])
def test_concurrent_resumed_runs_of_different_threads_have_budgets_of_their_own(concurrency: str) -> None:
    """Two threads resumed at once, their tool calls in lockstep: each resumed run meters only its own model calls.

    Each makes two calls (600 + 600) and is stopped at its third; one shared budget would stop both after their first.
    """
    mw = ActGuardMiddleware(token_limit=1000)  # one middleware for both agents
    first_q2 = Rendezvous(2)  # both runs reach q2 (after their first resumed model call) before either goes on
    agents: dict[str, tuple[Any, ScriptedChatModel, list[str]]] = {}
    for thread in ("a", "b"):
        ran, search = lockstep_search(first_q2)
        calls = [tool_call("search", {"query": f"q{i}"}, input_tokens=500, output_tokens=100) for i in range(5)]
        model = ScriptedChatModel(responses=[*calls, answer("done")], per_conversation=True)
        agent = create_agent(model, tools=[search], middleware=[mw], checkpointer=InMemorySaver())
        agents[thread] = (agent, model, ran)

    def config(thread: str) -> Any:
        return {"configurable": {"thread_id": thread}}

    for thread, (agent, _, _) in agents.items():  # each stops at its limit: 600, 1200, the third call refused
        with pytest.raises(BudgetExceededError):
            agent.invoke(INPUT, config(thread))

    errors: dict[str, BaseException] = {}
    if concurrency == "threads":

        def resume(thread: str) -> None:
            try:
                agents[thread][0].invoke(None, config(thread))
            except BaseException as error:  # asserted below
                errors[thread] = error

        workers = [threading.Thread(target=resume, args=(thread,)) for thread in agents]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
    else:

        async def main() -> None:
            results = await asyncio.gather(
                *(agent.ainvoke(None, config(thread)) for thread, (agent, _, _) in agents.items()),
                return_exceptions=True,
            )
            errors.update(
                {thread: r for thread, r in zip(agents, results, strict=True) if isinstance(r, BaseException)}
            )

        asyncio.run(main())

    for thread, (_, model, ran) in agents.items():
        error = errors.get(thread)
        assert isinstance(error, BudgetExceededError) and error.used == 1200, (thread, error)
        assert ran == ["q0", "q1", "q2", "q3"] and model.calls == 4, thread


def test_where_langchain_cannot_keep_a_resumed_runs_budget_a_warning_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_middleware, "_Extended", None)  # as before langchain 1.2.9
    model, _, search = scripted()
    agent = create_agent(
        model, tools=[search], middleware=[ActGuardMiddleware(token_limit=1000)], checkpointer=InMemorySaver()
    )
    config: Any = {"configurable": {"thread_id": "t4"}}
    with pytest.raises(BudgetExceededError):
        agent.invoke(INPUT, config)  # a fresh run: before_agent opens its budget, nothing to warn about
    with pytest.warns(ActGuardWarning, match="before langchain 1.2.9"):
        agent.invoke(None, config)


@pytest.mark.skipif(
    hasattr(langchain.agents.middleware, "ExtendedModelResponse"),
    reason="langchain >= 1.2.9 keeps a resumed run's budget (the tests above)",
)
def test_before_langchain_1_2_9_each_model_call_of_a_resumed_run_has_its_own_budget_and_a_warning_says_so() -> None:
    """The documented limit of langchain < 1.2.9, on the real release: the resumed calls are not added up."""
    model, ran, search = scripted(steps=5)
    mw = ActGuardMiddleware(token_limit=1000)
    agent = create_agent(model, tools=[search], middleware=[mw], checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "t5"}}
    with pytest.raises(BudgetExceededError):
        agent.invoke(INPUT, config)  # a fresh run keeps one budget: 600, 1200, the third call refused
    with pytest.warns(ActGuardWarning, match="before langchain 1.2.9"):
        out = agent.invoke(None, config)  # 600 + 600 + 600 + 120 never crosses 1000 in any one call's budget
    assert out["messages"][-1].content == "done" and ran == ["q0", "q1", "q2", "q3", "q4"]
    assert mw.last_budget is not None and mw.last_budget.tokens_used == 120  # the final answer's budget alone


def test_with_the_handler_in_the_callbacks_a_resumed_run_keeps_one_budget_on_any_langchain() -> None:
    """The workaround the warning names: the handler follows the resumed run, so its calls add up on langchain 1.0."""
    model, ran, search = scripted(steps=5)
    mw = ActGuardMiddleware(token_limit=1000)
    agent = create_agent(model, tools=[search], middleware=[mw], checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "t6"}, "callbacks": [mw.handler]}
    with pytest.raises(BudgetExceededError):
        agent.invoke(INPUT, config)
    with pytest.raises(BudgetExceededError) as info:
        agent.invoke(None, config)  # 600 (q2), 1200 (q3, crosses 1000): the next call is refused, nothing warned
    assert info.value.used == 1200 and ran == ["q0", "q1", "q2", "q3"] and model.calls == 4
