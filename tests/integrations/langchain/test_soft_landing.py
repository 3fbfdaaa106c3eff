"""Soft landing and loop refusals in a langchain v1 agent with ActGuardMiddleware, over the real ChatOpenAI and
httpx.MockTransport: the request after the budget warned carries the note; the hard limit still stops the run."""

from __future__ import annotations

from contract import require

require("langchain_core")

from langchain_harness import require_langchain_v1  # noqa: E402

require_langchain_v1()

import pytest  # noqa: E402

require("langchain_openai")

import json  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
from langchain.agents import create_agent  # noqa: E402
from langchain_core.messages import HumanMessage, ToolMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402

import actguard  # noqa: E402
from actguard import BudgetExceededError, BudgetGuard  # noqa: E402
from actguard_langchain import ActGuardMiddleware  # noqa: E402

INPUT = {"messages": [HumanMessage("find it")]}


@tool
def search(query: str) -> str:
    """Search the knowledge base."""
    return f"result for {query}"


class ScriptedOpenAI:
    """A Chat Completions endpoint playing tool calls (``search`` with each query) then an answer; keeps bodies."""

    def __init__(self, queries: list[str], prompt_tokens: int = 400) -> None:
        self.queries = queries
        self.prompt_tokens = prompt_tokens
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        n = len(self.bodies)
        if n <= len(self.queries):
            call = {
                "id": f"call_{n}",
                "type": "function",
                "function": {"name": "search", "arguments": json.dumps({"query": self.queries[n - 1]})},
            }
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
        else:
            message = {"role": "assistant", "content": "final answer"}
        return httpx.Response(
            200,
            json={
                "id": f"chatcmpl-{n}",
                "object": "chat.completion",
                "created": 1,
                "model": "gpt-4o-2024-08-06",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": self.prompt_tokens, "completion_tokens": 0, "total_tokens": 400},
            },
        )

    def model(self) -> ChatOpenAI:
        transport = httpx.MockTransport(self)
        return ChatOpenAI(
            model="gpt-4o",
            api_key="sk-test",  # type: ignore[arg-type]
            http_client=httpx.Client(transport=transport),
            http_async_client=httpx.AsyncClient(transport=transport),
            max_retries=0,
        )

    def notes(self) -> list[bool]:
        """Per request: whether its system message carries the landing note."""
        return [
            any(m["role"] == "system" and "Budget notice" in json.dumps(m["content"]) for m in body["messages"])
            for body in self.bodies
        ]


def test_the_request_after_the_warning_carries_the_note_and_the_hard_limit_still_stops() -> None:
    server = ScriptedOpenAI(["q0", "q1", "q2", "q3"])
    agent = create_agent(server.model(), tools=[search], middleware=[ActGuardMiddleware()], system_prompt="Be brief.")
    warned: list[BudgetGuard] = []
    with pytest.raises(BudgetExceededError), BudgetGuard(token_limit=1000, warn_at=0.5, on_warn=warned.append) as g:
        agent.invoke(INPUT)
    assert len(server.bodies) == 3  # 400 + 400 (warned at 800) + 400: crossed, nothing more is sent
    assert server.notes() == [False, False, True]
    system = server.bodies[2]["messages"][0]
    assert system["role"] == "system" and "Be brief." in json.dumps(system["content"])
    assert "80%" in json.dumps(system["content"]) and "Finish with what you have" in json.dumps(system["content"])
    assert warned == [g] and g.warned


async def test_async_runs_get_the_note_too_and_it_never_enters_the_history() -> None:
    server = ScriptedOpenAI(["q0", "q1"], prompt_tokens=300)
    agent = create_agent(server.model(), tools=[search], middleware=[ActGuardMiddleware()])
    async with BudgetGuard(token_limit=10_000, warn_at=0.03) as guard:  # 300 tokens: warned after the first call
        out = await agent.ainvoke(INPUT)
    assert guard.warned
    assert server.notes() == [False, True, True]
    assert not any("Budget notice" in str(m.content) for m in out["messages"])


def test_a_repeated_tool_call_is_refused_back_to_the_model() -> None:
    server = ScriptedOpenAI(["same", "same", "same"], prompt_tokens=10)
    mw = ActGuardMiddleware(tool_guards={"search": {"loop_guard": {"max_repeats": 2}}})
    agent = create_agent(server.model(), tools=[search], middleware=[mw])
    with actguard.RunContext():
        out = agent.invoke(INPUT)
    results = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert [m.status for m in results] == ["success", "success", "error"]
    assert "repeating yourself" in str(results[2].content)
    assert out["messages"][-1].content == "final answer"
