"""End to end through pydantic-ai's OpenAI model on the real OpenAI SDK over httpx.MockTransport: pydantic-ai's usage
tracking, the adapter and actguard's SDK meter all see every call, and each is counted once."""

from __future__ import annotations

from contract import require

require("pydantic_ai")

import asyncio  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from openai_server import OpenAIServer, usage_for  # noqa: E402
from pydantic_ai import Agent  # noqa: E402
from pydantic_ai.exceptions import UsageLimitExceeded  # noqa: E402
from pydantic_ai.usage import UsageLimits  # noqa: E402
from pydantic_ai_harness import guarded  # noqa: E402

import actguard  # noqa: E402
from actguard import BudgetExceededError, BudgetGuard  # noqa: E402
from actguard.budget import prices  # noqa: E402
from actguard.testing import capture_events  # noqa: E402
from actguard_pydantic_ai import guard_tool  # noqa: E402

pytestmark = pytest.mark.usefixtures("store")


def search(query: str) -> str:
    """Search the knowledge base for the query."""
    return f"result for {query}"


def agent_for(server: OpenAIServer, via: str, **budget: Any) -> tuple[Agent[None, str], Any]:
    """pydantic-ai's OpenAI model on ``server``, a guarded tool, and a budget per run ``via`` the capability or the
    model wrapper; returns the agent and what reads its runs' budgets."""
    return guarded(
        via, server.model(), tools=[guard_tool(search, rate_limit={"max_calls": 100, "period": 60})], **budget
    )


def tokens(i: int, steps: int = 2) -> int:
    return sum(u["total_tokens"] for u in (usage_for(i, s) for s in range(steps)))


def usd(i: int, steps: int = 2) -> float:
    price = prices.lookup("gpt-4o-2024-08-06", "openai")
    assert price is not None
    return sum(
        price.cost(
            actguard.LLMUsage("gpt-4o-2024-08-06", "openai", u["prompt_tokens"], output_tokens=u["completion_tokens"])
        )
        for u in (usage_for(i, s) for s in range(steps))
    )


async def run_streamed(agent: Agent[None, str], prompt: str, **kwargs: Any) -> Any:
    async with agent.run_stream(prompt, **kwargs) as result:
        output = await result.get_output()
    return result, output


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_stream"])
def test_each_call_counts_once_in_the_run_and_the_enclosing_guard(streamed: bool, via: str) -> None:
    server = OpenAIServer()
    agent, guard = agent_for(server, via, user_id="alice", usd_limit=1.0)

    async def main() -> tuple[Any, Any]:
        with BudgetGuard(user_id="alice", usd_limit=5.0) as outer:
            if streamed:
                result, output = await run_streamed(agent, "run 3")
            else:
                result = await agent.run("run 3")
                output = result.output
        assert output == "done 3"
        return result, outer

    with capture_events() as events:
        result, outer = asyncio.run(main())
    assert len(server.requests) == 2
    assert all(bool(r.get("stream")) is streamed for r in server.requests)
    budget = guard.budget_for(result)
    assert budget is not None and budget is guard.last_budget
    # pydantic-ai's own tracking, the run's budget and the enclosing guard agree: each call once.
    run_usage = result.usage  # a property on pydantic-ai 2, a method before
    assert (run_usage if hasattr(run_usage, "total_tokens") else run_usage()).total_tokens == tokens(3)
    assert budget.tokens_used == tokens(3) and outer.tokens_used == tokens(3)
    assert budget.usage.calls == 2 and outer.usage.calls == 2
    assert budget.usd_used == pytest.approx(usd(3)) and outer.usd_used == pytest.approx(usd(3))
    recorded = events.of(category="budget", name="llm_call", outcome="recorded")
    assert sorted(e["payload"]["call_id"] for e in recorded) == ["chatcmpl-1", "chatcmpl-2"]  # one event a call


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_stream"])
def test_eight_concurrent_runs_each_get_their_own_budget(streamed: bool, via: str) -> None:
    server = OpenAIServer()
    agent, guard = agent_for(server, via, token_limit=10_000)

    async def one(i: int) -> Any:
        if streamed:
            result, output = await run_streamed(agent, f"run {i}")
        else:
            result = await agent.run(f"run {i}")
            output = result.output
        assert output == f"done {i}"
        return result

    async def main() -> list[Any]:
        return await asyncio.gather(*(one(i) for i in range(8)))

    results = asyncio.run(main())
    assert len(server.requests) == 16
    budgets = [guard.budget_for(r) for r in results]
    assert len({id(b) for b in budgets}) == 8
    for i, budget in enumerate(budgets):
        assert budget is not None
        assert budget.tokens_used == tokens(i), (i, budget.tokens_used)
        assert budget.usage.calls == 2


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_stream"])
def test_budget_stops_the_run_after_exactly_the_crossing_call(streamed: bool, via: str) -> None:
    server = OpenAIServer(tool_calls_per_run=5)
    limit = tokens(0, 2)  # reached by the 2nd call of run 0, exactly
    agent, guard = agent_for(server, via, user_id="alice", token_limit=limit)

    async def main() -> None:
        if streamed:
            await run_streamed(agent, "run 0")
        else:
            await agent.run("run 0")

    with pytest.raises(BudgetExceededError) as caught:
        asyncio.run(main())
    assert len(server.requests) == 2, "the model was called again after the crossing call"
    assert caught.value.limit_type == "token" and caught.value.limit == limit
    budget = guard.budget_for(caught.value)
    assert budget is not None and budget.tokens_used == limit and budget.usage.calls == 2


def test_usage_limits_and_the_budget_whichever_stops_first(via: str) -> None:
    server = OpenAIServer(tool_calls_per_run=5)
    # pydantic-ai's UsageLimits first: one request allowed, a generous budget.
    agent, _ = agent_for(server, via, usd_limit=1.0)
    with pytest.raises(UsageLimitExceeded):
        asyncio.run(agent.run("run 0", usage_limits=UsageLimits(request_limit=1)))
    assert len(server.requests) == 1
    # The budget first: a token limit the first call reaches, generous UsageLimits.
    server = OpenAIServer(tool_calls_per_run=5)
    agent, _ = agent_for(server, via, token_limit=tokens(0, 1))
    with pytest.raises(BudgetExceededError):
        asyncio.run(agent.run("run 0", usage_limits=UsageLimits(request_limit=50, total_tokens_limit=100_000)))
    assert len(server.requests) == 1


def test_a_spent_enclosing_guard_stops_the_run_before_any_request(via: str) -> None:
    server = OpenAIServer()
    agent, _ = agent_for(server, via)

    async def main() -> None:
        with BudgetGuard(user_id="alice", token_limit=10) as outer:
            outer.record(actguard.LLMUsage("gpt-4o", "openai", 10, output_tokens=0))
            await agent.run("run 0")

    with capture_events() as events, pytest.raises(BudgetExceededError):
        asyncio.run(main())
    assert server.requests == []
    [blocked] = events.of(category="budget", name="llm_call", outcome="blocked")
    assert blocked["payload"] == {"guard": None, "limit_type": "token", "limit": 10, "used": 10}


def test_a_stream_is_cut_as_soon_as_its_running_estimate_crosses_the_budget(via: str) -> None:
    """actguard's SDK meter, metering into the run's budget, stops a streamed answer mid-way (not at its end)."""
    server = OpenAIServer(tool_calls_per_run=0, answer_chunks=50)  # 20,000 characters: about 5,000 tokens
    agent, guard = agent_for(server, via, user_id="alice", token_limit=1000)
    seen: list[str] = []

    async def main() -> None:
        async with agent.run_stream("run 0") as result:
            async for text in result.stream_text(delta=True, debounce_by=None):
                seen.append(text)

    with pytest.raises(BudgetExceededError) as caught:
        asyncio.run(main())
    assert len(server.requests) == 1
    streamed = sum(len(t) for t in seen)
    assert 0 < streamed < 50 * 400, streamed  # cut before the end
    budget = guard.budget_for(caught.value)
    assert budget is not None and budget.usage.calls == 1
    assert 1000 <= budget.tokens_used < 1000 + 200  # the estimate when it was cut, not the 5,000-token whole
