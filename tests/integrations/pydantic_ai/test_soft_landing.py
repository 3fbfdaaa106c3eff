"""Soft landing in pydantic-ai runs (through ActGuardCapability and ActGuardModel alike): once the budget warned, the
next model request carries the note, in that request only (never in the run's history; shown in the request body
pydantic-ai's OpenAI model sends); the hard limit still stops the run."""

from __future__ import annotations

from contract import require

require("pydantic_ai")

import asyncio  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from openai_server import OpenAIServer, usage_for  # noqa: E402
from pydantic_ai.capabilities import AbstractCapability  # noqa: E402
from pydantic_ai.messages import ModelMessage, ModelRequest, SystemPromptPart, UserPromptPart  # noqa: E402
from pydantic_ai_harness import guarded  # noqa: E402

from actguard import BudgetExceededError, BudgetGuard, LLMUsage  # noqa: E402
from actguard_pydantic_ai import PYDANTIC_AI_VERSION, ActGuardCapability  # noqa: E402
from actguard_pydantic_ai._compat import REQUEST_ONLY_MESSAGES  # noqa: E402
from actguard_pydantic_ai.testing import ScriptedModel, answer, tool_call  # noqa: E402

pytestmark = pytest.mark.usefixtures("store")


def search(query: str) -> str:
    """Search the knowledge base for the query."""
    return f"result for {query}"


def notes(messages: list[ModelMessage]) -> list[str]:
    """The landing notes among ``messages``: system prompt parts, which pydantic-ai 2 hands a model without inline
    system prompts (FunctionModel) as ``<system>``-tagged user prompt parts."""
    return [
        part.content
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, (SystemPromptPart, UserPromptPart))
        and isinstance(part.content, str)
        and "Budget notice" in part.content
    ]


@pytest.mark.parametrize("mode", ["run", "iter"])
def test_the_request_after_the_warning_carries_the_note_and_the_hard_limit_still_stops(mode: str, via: str) -> None:
    steps = [tool_call("search", {"query": f"q{i}"}, input_tokens=400, output_tokens=0) for i in range(4)]
    model = ScriptedModel([*steps, answer("done")])
    warned: list[BudgetGuard] = []
    agent, capability = guarded(via, model, tools=[search], token_limit=1000, warn_at=0.5, on_warn=warned.append)

    async def main() -> None:
        if mode == "iter":
            async with agent.iter("go") as agent_run:
                async for _ in agent_run:
                    pass
        else:
            await agent.run("go")

    with pytest.raises(BudgetExceededError):
        asyncio.run(main())
    assert model.calls == 3  # 400, 800 (warned), 1200: crossed, the 4th request is refused
    assert [len(notes(messages)) for messages in model.inputs] == [0, 0, 1]
    [note] = notes(model.inputs[2])
    last = model.inputs[2][-1]
    assert isinstance(last, ModelRequest) and notes([last]) == [note] and last.parts[-1].content == note  # at the end
    assert "you have used 80%" in note and "Finish with what you have" in note
    assert warned == [capability.last_budget]


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_stream"])
def test_an_enclosing_budget_warns_the_run_and_the_note_stays_out_of_the_history(streamed: bool, via: str) -> None:
    steps = [tool_call("search", {"query": f"q{i}"}, input_tokens=300, output_tokens=0) for i in range(2)]
    model = ScriptedModel([*steps, answer("done")])
    agent, _ = guarded(via, model, tools=[search], instructions="Be brief.")

    async def main() -> tuple[BudgetGuard, list[ModelMessage]]:
        async with BudgetGuard(token_limit=10_000, warn_at=0.5) as guard:
            guard.record(LLMUsage("gpt-4o", "openai", 5_000, output_tokens=0))  # warned before the run
            if streamed:
                async with agent.run_stream("go") as result:
                    assert await result.get_output() == "done"
                return guard, result.all_messages()
            done = await agent.run("go")
            assert done.output == "done"
            return guard, done.all_messages()

    guard, history = asyncio.run(main())
    assert guard.warned
    assert [len(notes(messages)) for messages in model.inputs] == [1, 1, 1]  # one note a request, never more
    assert notes(history) == []  # the run's history never kept it
    requests = [m for m in history if isinstance(m, ModelRequest)]
    assert all(r.instructions == "Be brief." for r in requests)


def test_the_note_keeps_the_request_s_instructions_and_leaves_the_history_alone(via: str) -> None:
    """The note goes on a copy of the last request: the copy keeps its instructions, the history its original."""
    model = ScriptedModel([tool_call("search", {"query": "a"}, input_tokens=600, output_tokens=0), answer("done")])
    agent, _ = guarded(via, model, tools=[search], instructions="Be brief.", token_limit=1000, warn_at=0.5)
    result = asyncio.run(agent.run("go"))
    sent = model.inputs[1][-1]
    assert isinstance(sent, ModelRequest) and sent.instructions == "Be brief." and len(notes([sent])) == 1
    kept = [m for m in result.all_messages() if isinstance(m, ModelRequest)]
    assert len(kept) == 2 and notes(kept) == [] and kept[-1] is not sent


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_stream"])
def test_a_real_openai_model_sends_the_note_in_its_next_request_body(streamed: bool, via: str) -> None:
    server = OpenAIServer()  # run 3: a tool call of 440 tokens, then the answer
    agent, _ = guarded(via, server.model(), tools=[search], instructions="Be brief.", token_limit=1000, warn_at=0.4)

    async def main() -> Any:
        if streamed:
            async with agent.run_stream("run 3") as result:
                return await result.get_output()
        return (await agent.run("run 3")).output

    assert asyncio.run(main()) == "done 3"
    assert usage_for(3, 0)["total_tokens"] == 440  # 44% of the limit: warned by the first call
    first, second = server.requests
    assert not any("Budget notice" in str(m.get("content")) for m in first["messages"])
    note = second["messages"][-1]
    assert note["role"] in ("system", "developer") and note["content"].startswith("Budget notice: you have used 44%")
    instructions = {"role": note["role"], "content": "Be brief."}
    assert instructions in second["messages"]  # still sent, and first from pydantic-ai 2 on (1.x's OpenAI chat
    if int(PYDANTIC_AI_VERSION.split(".")[0]) >= 2:  # model puts them after as many messages as are system ones)
        assert second["messages"][0] == instructions
    assert second["messages"][-2]["role"] == "tool"  # the note follows the request's own messages


def test_the_hard_limit_still_stops_a_run_whose_requests_carry_the_note(via: str) -> None:
    server = OpenAIServer(tool_calls_per_run=5)
    # run 0: 110 tokens warn, the 3rd call crosses
    agent, _ = guarded(via, server.model(), tools=[search], token_limit=300, warn_at=0.3)
    with pytest.raises(BudgetExceededError):
        asyncio.run(agent.run("run 0"))
    assert len(server.requests) == 3
    assert ["Budget notice" in str(r["messages"][-1]["content"]) for r in server.requests] == [False, True, True]


def test_no_wrap_model_request_where_before_model_request_can_change_one_request() -> None:
    """pydantic-ai >= 2.54 chains every capability's own wrap_model_request into each request: not ours."""
    defines_wrap = ActGuardCapability.wrap_model_request is not AbstractCapability.wrap_model_request
    assert defines_wrap is not REQUEST_ONLY_MESSAGES
