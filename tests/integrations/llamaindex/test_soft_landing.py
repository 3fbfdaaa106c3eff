"""Soft landing and loop refusals in LlamaIndex agent runs, over LlamaIndex's own OpenAI LLM on httpx.MockTransport:
once the budget warned, the next request body carries the note; the hard limit still stops the run."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from contract import require

require("llama_index.core")
require("llama_index.llms.openai")

from llamaindex_harness import agent_for  # noqa: E402
from test_openai import FakeOpenAI, openai_llm  # noqa: E402

import actguard  # noqa: E402
from actguard import BudgetExceededError, BudgetGuard  # noqa: E402
from actguard_llamaindex import ActGuardHandler, budget_error, guard_tool  # noqa: E402


def search(query: str) -> str:
    """Search the knowledge base."""
    return f"result for {query}"


def notes(fake: FakeOpenAI) -> list[bool]:
    return [
        any(m["role"] == "system" and "Budget notice" in json.dumps(m.get("content")) for m in body["messages"])
        for body in fake.requests
    ]


async def finish(handler: Any) -> tuple[Any, BaseException | None]:
    try:
        return await handler, None
    except Exception as exc:
        return None, exc


def test_the_request_after_the_warning_carries_the_note_and_the_hard_limit_still_stops() -> None:
    fake = FakeOpenAI([{"tool": "search", "args": {"query": f"q{i}"}} for i in range(4)])  # 120 tokens a call
    guard = ActGuardHandler(token_limit=300, warn_at=0.5)
    agent = agent_for(openai_llm(fake), [search])

    async def main() -> tuple[Any, BaseException | None]:
        return await finish(guard.run(agent, user_msg="go"))

    _, error = asyncio.run(main())
    assert isinstance(budget_error(error), BudgetExceededError)
    assert len(fake.requests) == 3  # 120, 240 (warned), 360: crossed, the 4th call is refused
    assert notes(fake) == [False, False, True]
    last = fake.requests[2]["messages"][-1]
    assert last["role"] == "system" and "80%" in json.dumps(last["content"])
    assert guard.last_budget is not None and guard.last_budget.warned


def test_an_enclosing_budget_warns_and_the_note_never_enters_the_memory() -> None:
    fake = FakeOpenAI([{"tool": "search", "args": {"query": "a"}}, {"tool": "search", "args": {"query": "b"}}])
    fake.script.append({"content": "done"})
    agent = agent_for(openai_llm(fake), [search])

    async def main() -> Any:
        with BudgetGuard(token_limit=10_000, warn_at=0.01) as outer:  # warned after the first call
            result, error = await finish(ActGuardHandler().run(agent, user_msg="go"))
        assert error is None and outer.warned
        return result

    result = asyncio.run(main())
    assert "done" in str(result)
    assert notes(fake) == [False, True, True]
    for body in fake.requests:  # one note per request, never carried over from an earlier one
        assert sum("Budget notice" in json.dumps(m.get("content")) for m in body["messages"]) <= 1


def test_guard_tool_refuses_a_repeated_call_back_to_the_model() -> None:
    fake = FakeOpenAI([{"tool": "search", "args": {"query": "same"}} for _ in range(3)])
    fake.script.append({"content": "done"})
    agent = agent_for(openai_llm(fake), [guard_tool(search, loop_guard={"max_repeats": 2})])

    async def main() -> Any:
        with actguard.RunContext():
            return await finish(ActGuardHandler().run(agent, user_msg="go"))

    result, error = asyncio.run(main())
    assert error is None and "done" in str(result)
    tool_results = [m["content"] for m in fake.requests[-1]["messages"] if m["role"] == "tool"]
    assert tool_results[:2] == ["result for same", "result for same"]
    assert "repeating yourself" in tool_results[2]


@pytest.mark.parametrize("bad", [0, 1, "0.8"])
def test_bad_warn_at_fails_at_construction(bad: Any) -> None:
    with pytest.raises(actguard.ConfigError, match="warn_at"):
        ActGuardHandler(token_limit=10, warn_at=bad)
