"""ActGuardMiddleware in langchain v1 create_agent: budget stop (raise or end), metering, tool refusals."""

from __future__ import annotations

from contract import require

require("langchain_core")

from langchain_harness import require_langchain_v1  # noqa: E402

require_langchain_v1()

import asyncio  # noqa: E402
import uuid  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from langchain.agents import create_agent  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402

from actguard import BudgetExceededError, BudgetGuard, ConfigError, RateLimitExceeded  # noqa: E402
from actguard.exceptions import ActGuardWarning  # noqa: E402
from actguard_langchain import ActGuardCallbackHandler, ActGuardMiddleware, _middleware  # noqa: E402
from actguard_langchain.testing import ScriptedChatModel, answer, tool_call  # noqa: E402

INPUT = {"messages": [HumanMessage("find it")]}


@tool
def search(query: str) -> str:
    """Search the knowledge base."""
    return f"result for {query}"


def searches(n: int, tokens: tuple[int, int] = (500, 100)) -> list[Any]:
    return [tool_call("search", {"query": f"q{i}"}, input_tokens=tokens[0], output_tokens=tokens[1]) for i in range(n)]


def test_meters_every_model_call_of_the_run() -> None:
    model = ScriptedChatModel(responses=[*searches(2), answer("done", input_tokens=300, output_tokens=50)])
    mw = ActGuardMiddleware(user_id="alice")
    out = create_agent(model, tools=[search], middleware=[mw]).invoke(INPUT)
    assert out["messages"][-1].content == "done"
    assert mw.last_budget is not None
    assert (mw.last_budget.tokens_used, mw.last_budget.usage.calls) == (1550, 3)
    assert mw.last_budget.user_id == "alice" and mw.last_budget.usd_used > 0


def test_budget_stop_raises_before_the_next_model_call() -> None:
    model = ScriptedChatModel(responses=[*searches(3), "never"])
    mw = ActGuardMiddleware(token_limit=1000)
    with pytest.raises(BudgetExceededError) as info:
        create_agent(model, tools=[search], middleware=[mw]).invoke(INPUT)
    assert model.calls == 2 and info.value.used == 1200
    assert mw.handler.runs.live_runs == 0


def test_budget_stop_can_end_the_run_gracefully() -> None:
    model = ScriptedChatModel(responses=[*searches(3), "never"])
    mw = ActGuardMiddleware(token_limit=1000, on_exceeded="end")
    out = create_agent(model, tools=[search], middleware=[mw]).invoke(INPUT)
    assert model.calls == 2
    last = out["messages"][-1]
    assert isinstance(last, AIMessage) and "budget exceeded" in str(last.content)
    assert [m.content for m in out["messages"] if isinstance(m, ToolMessage)] == ["result for q0", "result for q1"]


async def test_async_and_streaming_runs_are_metered_and_stopped() -> None:
    model = ScriptedChatModel(responses=[*searches(3), "never"])
    mw = ActGuardMiddleware(token_limit=1000)
    agent = create_agent(model, tools=[search], middleware=[mw])
    with pytest.raises(BudgetExceededError):
        async for _ in agent.astream(INPUT, stream_mode="messages"):
            pass
    assert model.calls == 2 and mw.last_budget is not None and mw.last_budget.tokens_used == 1200

    model = ScriptedChatModel(responses=[*searches(1), "done"])
    mw = ActGuardMiddleware()
    await create_agent(model, tools=[search], middleware=[mw]).ainvoke(INPUT)
    assert mw.last_budget is not None and mw.last_budget.tokens_used == 600


def test_with_the_handler_a_call_counts_once_and_shares_the_run_budget() -> None:
    handler = ActGuardCallbackHandler(token_limit=1000)
    mw = ActGuardMiddleware(handler=handler)
    model = ScriptedChatModel(responses=[*searches(3), "never"])
    run_id = uuid.uuid4()
    agent = create_agent(model, tools=[search], middleware=[mw])
    with pytest.raises(BudgetExceededError):
        for _ in agent.stream(INPUT, {"callbacks": [handler], "run_id": run_id}, stream_mode="messages"):
            pass
    guard = handler.budget_for(run_id)
    assert guard is not None and guard is mw.last_budget
    assert (guard.tokens_used, guard.usage.calls, model.calls) == (1200, 2, 2)


def test_inside_a_budget_guard_the_enclosing_limit_holds() -> None:
    model = ScriptedChatModel(responses=[*searches(3), "never"])
    mw = ActGuardMiddleware()
    with BudgetGuard(user_id="carol", token_limit=600) as outer, pytest.raises(BudgetExceededError) as info:
        create_agent(model, tools=[search], middleware=[mw]).invoke(INPUT)
    assert model.calls == 1 and outer.tokens_used == 600 and info.value.user_id == "carol"


def test_concurrent_runs_of_one_agent_are_isolated() -> None:
    mw = ActGuardMiddleware(token_limit=10_000)

    async def main() -> list[int]:
        async def one(i: int) -> int:
            model = ScriptedChatModel(
                responses=[
                    *searches(1, (10 * (i + 1), i + 1)),
                    answer("ok", input_tokens=10 * (i + 1), output_tokens=i + 1),
                ]
            )
            run_id = uuid.uuid4()
            agent = create_agent(model, tools=[search], middleware=[mw])
            handler = mw.handler
            await agent.ainvoke(INPUT, {"callbacks": [handler], "run_id": run_id})
            guard = handler.budget_for(run_id)
            assert guard is not None
            return guard.tokens_used

        return list(await asyncio.gather(*(one(i) for i in range(8))))

    assert asyncio.run(main()) == [22 * (i + 1) for i in range(8)]


def rate_limited_tool() -> Any:
    """A tool whose own code raises an actguard refusal (as a tool decorated with actguard's guards would)."""
    calls: list[str] = []

    @tool
    def lookup(query: str) -> str:
        """Look something up."""
        calls.append(query)
        if len(calls) > 1:
            raise RateLimitExceeded(tool_name="lookup", limit=1, period=60, retry_after=42)
        return f"found {query}"

    return lookup


def test_recoverable_refusals_reach_the_model_as_error_tool_messages() -> None:
    model = ScriptedChatModel(
        responses=[tool_call("lookup", {"query": "a"}), tool_call("lookup", {"query": "b"}), "ok"]
    )
    out = create_agent(model, tools=[rate_limited_tool()], middleware=[ActGuardMiddleware()]).invoke(INPUT)
    results = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert [m.status for m in results] == ["success", "error"]
    assert "rate limited" in str(results[1].content) and "42s" in str(results[1].content)
    assert model.calls == 3


def test_refusals_can_be_raised_instead() -> None:
    model = ScriptedChatModel(
        responses=[tool_call("lookup", {"query": "a"}), tool_call("lookup", {"query": "b"}), "ok"]
    )
    agent = create_agent(model, tools=[rate_limited_tool()], middleware=[ActGuardMiddleware(on_refusal="raise")])
    with pytest.raises(RateLimitExceeded):
        agent.invoke(INPUT)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"on_exceeded": "stop"},
        {"on_refusal": "ignore"},
        {"handler": object()},
        {"handler": ActGuardCallbackHandler(), "token_limit": 5},
        {"tool_guards": {"search": "rate_limit"}},
        {"tool_guards": {"search": {"rate_limits": {"max_calls": 1, "period": 60}}}},
        {"tool_guards": {"search": {"rate_limit": {"max_calls": 0, "period": 60}}}},
        {"token_limit": 0},
    ],
    ids=str,
)
def test_bad_arguments_fail_at_construction(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ActGuardMiddleware(**kwargs)


@pytest.mark.usefixtures("store")
@pytest.mark.parametrize("asynchronous", [False, True], ids=["invoke", "ainvoke"])
async def test_tool_guards_by_name(asynchronous: bool) -> None:
    @tool
    def notify(text: str) -> str:
        """Notify the user."""
        return "sent"

    model = ScriptedChatModel(
        responses=[
            tool_call("notify", {"text": "a"}),
            tool_call("notify", {"text": "b"}),
            tool_call("search", {"query": "x"}),
            tool_call("search", {"query": "y"}),
            "ok",
        ]
    )
    mw = ActGuardMiddleware(tool_guards={"notify": {"rate_limit": {"max_calls": 1, "period": 60}}})
    agent = create_agent(model, tools=[notify, search], middleware=[mw])
    out = await agent.ainvoke(INPUT) if asynchronous else agent.invoke(INPUT)
    results = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert [(m.name, m.status) for m in results] == [
        ("notify", "success"),
        ("notify", "error"),
        ("search", "success"),
        ("search", "success"),
    ]
    assert "'notify' is rate limited" in str(results[1].content)
    assert model.calls == 5


def test_middleware_and_a_separate_handler_inside_a_guard_count_each_call_once() -> None:
    model = ScriptedChatModel(responses=[*searches(2), answer("done", input_tokens=300, output_tokens=50)])
    mw = ActGuardMiddleware()
    other = ActGuardCallbackHandler()  # not the middleware's: its own budgets
    with BudgetGuard() as outer:
        create_agent(model, tools=[search], middleware=[mw]).invoke(INPUT, {"callbacks": [other]})
    assert (outer.usage.calls, outer.tokens_used) == (3, 1550)
    for budget in (mw.last_budget, other.last_budget):
        assert budget is not None and (budget.usage.calls, budget.tokens_used) == (3, 1550)


@pytest.mark.skipif(
    not _middleware._SEES_RUN_ID,
    reason="before langgraph 1.1.5 a node cannot see the config's run_id (see the warning test)",
)
def test_without_the_handler_a_run_budget_is_found_by_the_config_run_id() -> None:
    mw = ActGuardMiddleware()
    run_id = uuid.uuid4()
    model = ScriptedChatModel(responses=[*searches(1), "done"])
    create_agent(model, tools=[search], middleware=[mw]).invoke(INPUT, {"run_id": run_id})
    guard = mw.budget_for(run_id)
    assert guard is not None and guard is mw.last_budget and guard.tokens_used == 600


@pytest.mark.skipif(_middleware._SEES_RUN_ID, reason="langgraph >= 1.1.5 sees the config's run_id (the test above)")
def test_before_langgraph_1_1_5_a_config_run_id_not_found_warns_and_last_budget_has_the_run() -> None:
    mw = ActGuardMiddleware()
    run_id = uuid.uuid4()
    model = ScriptedChatModel(responses=[*searches(1), "done"])
    create_agent(model, tools=[search], middleware=[mw]).invoke(INPUT, {"run_id": run_id})
    with pytest.warns(ActGuardWarning, match="before langgraph 1.1.5"):
        assert mw.budget_for(run_id) is None
    assert mw.last_budget is not None and mw.last_budget.tokens_used == 600


def test_where_langgraph_cannot_see_the_config_run_id_budget_for_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_middleware, "_SEES_RUN_ID", False)  # as before langgraph 1.1.5
    mw = ActGuardMiddleware()
    with pytest.warns(ActGuardWarning, match=r"callbacks': \[mw.handler\]"):
        assert mw.budget_for(uuid.uuid4()) is None
    run_id = uuid.uuid4()  # with the handler in the callbacks the config's run_id keys the budget on any langgraph
    create_agent(ScriptedChatModel(responses=[*searches(1), "done"]), tools=[search], middleware=[mw]).invoke(
        INPUT, {"callbacks": [mw.handler], "run_id": run_id}
    )
    guard = mw.budget_for(run_id)  # found: no warning (warnings are errors here)
    assert guard is not None and guard.tokens_used == 600
