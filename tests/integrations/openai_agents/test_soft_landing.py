"""Soft landing and loop refusals in Runner runs: once the budget warned, the next model call's input carries the
note (shown in the request body a real OpenAI model sends); the hard limit still stops the run."""

from __future__ import annotations

from contract import require

require("agents")

import json  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402
from agents import Agent, OpenAIResponsesModel, Runner, function_tool  # noqa: E402
from agents_harness import consume  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402

import actguard  # noqa: E402
from actguard import BudgetExceededError, BudgetGuard  # noqa: E402
from actguard_openai_agents import ActGuardRunHooks, guard_tool  # noqa: E402
from actguard_openai_agents.testing import ScriptedModel, answer, tool_call  # noqa: E402

pytestmark = pytest.mark.usefixtures("store")


@function_tool
def search(query: str) -> str:
    """Search the knowledge base."""
    return f"result for {query}"


def has_note(items: list[Any]) -> bool:
    return any("Budget notice" in json.dumps(item, default=str) for item in items)


@pytest.mark.parametrize("mode", ["run", "streamed"])
async def test_the_call_after_the_warning_carries_the_note_and_the_hard_limit_still_stops(mode: str) -> None:
    steps = [tool_call("search", {"query": f"q{i}"}, input_tokens=400, output_tokens=0) for i in range(4)]
    model = ScriptedModel([*steps, answer("done")])
    warned: list[BudgetGuard] = []
    hooks = ActGuardRunHooks(token_limit=1000, warn_at=0.5, on_warn=warned.append)
    agent = Agent(name="a", model=model, tools=[search])
    with pytest.raises(BudgetExceededError):
        if mode == "streamed":
            await consume(Runner.run_streamed(agent, "go", hooks=hooks))
        else:
            await Runner.run(agent, "go", hooks=hooks)
    assert model.calls == 3  # 400, 800 (warned), 1200: crossed, the 4th call is refused
    assert [has_note(items) for items in model.inputs] == [False, False, True]
    assert model.inputs[2][-1] == {"role": "system", "content": model.inputs[2][-1]["content"]}
    assert "Finish with what you have" in model.inputs[2][-1]["content"]
    assert warned == [hooks.last_budget]


async def test_an_enclosing_budget_warns_the_run_and_the_note_stays_out_of_the_history() -> None:
    steps = [tool_call("search", {"query": f"q{i}"}, input_tokens=300, output_tokens=0) for i in range(2)]
    model = ScriptedModel([*steps, answer("done")])
    async with BudgetGuard(token_limit=10_000, warn_at=0.03) as guard:  # warned after the first call
        result = await Runner.run(Agent(name="a", model=model, tools=[search]), "go", hooks=ActGuardRunHooks())
    assert guard.warned and result.final_output == "done"
    assert [has_note(items) for items in model.inputs] == [False, True, True]
    assert sum(has_note([item]) for item in model.inputs[2]) == 1  # one note per call, not one more per turn
    assert not has_note([item.to_input_item() for item in result.new_items])


async def test_a_real_openai_model_sends_the_note_in_its_request_body() -> None:
    bodies: list[dict[str, Any]] = []

    def respond(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        n = len(bodies)
        output: dict[str, Any]
        if n == 1:
            output = {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "search",
                "arguments": json.dumps({"query": "refunds"}),
                "status": "completed",
            }
        else:
            output = {
                "type": "message",
                "id": f"msg_{n}",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Refunds take 5 days.", "annotations": []}],
            }
        return httpx.Response(
            200,
            json={
                "id": f"resp_{n}",
                "object": "response",
                "created_at": 1_700_000_000,
                "model": "gpt-4o-2024-08-06",
                "status": "completed",
                "output": [output],
                "parallel_tool_calls": True,
                "tool_choice": "auto",
                "tools": [],
                "usage": {
                    "input_tokens": 600,
                    "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens": 0,
                    "output_tokens_details": {"reasoning_tokens": 0},
                    "total_tokens": 600,
                },
            },
        )

    client = AsyncOpenAI(api_key="sk-test", http_client=httpx.AsyncClient(transport=httpx.MockTransport(respond)))
    agent = Agent(name="a", model=OpenAIResponsesModel("gpt-4o", client), tools=[search])
    result = await Runner.run(agent, "refunds?", hooks=ActGuardRunHooks(token_limit=1000, warn_at=0.5))
    assert result.final_output == "Refunds take 5 days."
    assert [has_note(body["input"]) for body in bodies] == [False, True]
    note = bodies[1]["input"][-1]
    assert note["role"] == "system" and "60%" in note["content"]


async def test_guard_tool_refuses_a_repeated_call_back_to_the_model() -> None:
    steps = [tool_call("search", {"query": "same"}, input_tokens=10, output_tokens=0) for _ in range(3)]
    model = ScriptedModel([*steps, answer("done")])
    tool = guard_tool(search, loop_guard={"max_repeats": 2})
    with actguard.RunContext():
        result = await Runner.run(Agent(name="a", model=model, tools=[tool]), "go")
    assert result.final_output == "done"
    outputs = model.tool_outputs()
    assert outputs[:2] == ["result for same", "result for same"]
    assert "repeating yourself" in outputs[2]
