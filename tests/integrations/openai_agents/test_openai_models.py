"""The SDK's own OpenAI models over a real AsyncOpenAI client on httpx.MockTransport: each call is counted once.

Inside an active BudgetGuard, actguard's OpenAI SDK meter and ActGuardRunHooks both see every call. The hooks record
it under the provider's id (the Responses API's response id; the chat completion id, which the Chat Completions model
keeps in its output items from openai-agents 0.7), so the enclosing guard counts it once; a call without an id, from
a model on the OpenAI client, is left to the SDK meter there.
"""

from __future__ import annotations

from contract import assert_one_recorded_event_per_call, require

require("agents")

import itertools  # noqa: E402
import json  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402
from agents import Agent, OpenAIChatCompletionsModel, OpenAIResponsesModel, Runner, function_tool  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402

from actguard import BudgetExceededError, BudgetGuard  # noqa: E402
from actguard.testing import capture_events  # noqa: E402
from actguard_openai_agents import ActGuardRunHooks  # noqa: E402
from actguard_openai_agents.testing import ScriptedModel, answer, tool_call  # noqa: E402

pytestmark = pytest.mark.usefixtures("store")

_ids = itertools.count(1)


@function_tool
def lookup(query: str) -> str:
    """Look something up."""
    return f"found {query}"


def responses_payload(calls: int) -> dict[str, Any]:
    n = next(_ids)
    if calls == 1:
        output: list[dict[str, Any]] = [
            {
                "type": "function_call",
                "id": f"fc_{n}",
                "call_id": f"call_{n}",
                "name": "lookup",
                "arguments": json.dumps({"query": "refunds"}),
                "status": "completed",
            }
        ]
    else:
        output = [
            {
                "type": "message",
                "id": f"msg_{n}",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Refunds take 5 days.", "annotations": []}],
            }
        ]
    return {
        "id": f"resp_{n}",
        "object": "response",
        "created_at": 1_700_000_000,
        "model": "gpt-4o-2024-08-06",
        "status": "completed",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 300,
            "input_tokens_details": {"cached_tokens": 100},
            "output_tokens": 50,
            "output_tokens_details": {"reasoning_tokens": 10},
            "total_tokens": 350,
        },
    }


def chat_payload(calls: int) -> dict[str, Any]:
    n = next(_ids)
    if calls == 1:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_{n}",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": json.dumps({"query": "refunds"})},
                }
            ],
        }
        finish = "tool_calls"
    else:
        message = {"role": "assistant", "content": "Refunds take 5 days."}
        finish = "stop"
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": 300,
            "completion_tokens": 50,
            "total_tokens": 350,
            "prompt_tokens_details": {"cached_tokens": 100},
            "completion_tokens_details": {"reasoning_tokens": 10},
        },
    }


def sse(events: list[tuple[str | None, dict[str, Any]]], done: bool) -> httpx.Response:
    lines = []
    for name, data in events:
        if name is not None:
            lines.append(f"event: {name}")
        lines.append(f"data: {json.dumps(data)}")
        lines.append("")
    if done:
        lines += ["data: [DONE]", ""]
    body = ("\n".join(lines) + "\n").encode()
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def responses_stream(payload: dict[str, Any]) -> httpx.Response:
    created = {**payload, "status": "in_progress", "output": [], "usage": None}
    return sse(
        [
            ("response.created", {"type": "response.created", "response": created, "sequence_number": 0}),
            ("response.completed", {"type": "response.completed", "response": payload, "sequence_number": 1}),
        ],
        done=False,
    )


def chat_stream(payload: dict[str, Any], include_usage: bool) -> httpx.Response:
    message = payload["choices"][0]["message"]
    delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
    if message.get("tool_calls"):
        delta["tool_calls"] = [{"index": 0, **call} for call in message["tool_calls"]]
    base = {k: payload[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    chunks = [
        (None, {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}),
        (
            None,
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": payload["choices"][0]["finish_reason"]}]},
        ),
    ]
    if include_usage:
        chunks.append((None, {**base, "choices": [], "usage": payload["usage"]}))
    return sse(chunks, done=True)


class FakeOpenAI:
    """An OpenAI API on httpx.MockTransport: a tool call, then an answer, for either API, streamed or not."""

    def __init__(self) -> None:
        self.calls = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        body = json.loads(request.content or b"{}")
        stream = bool(body.get("stream"))
        if request.url.path.endswith("/responses"):
            payload = responses_payload(self.calls)
            return responses_stream(payload) if stream else httpx.Response(200, json=payload)
        if request.url.path.endswith("/chat/completions"):
            payload = chat_payload(self.calls)
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return chat_stream(payload, include_usage) if stream else httpx.Response(200, json=payload)
        return httpx.Response(404, json={"error": {"message": f"unexpected {request.url.path}"}})

    def client(self) -> AsyncOpenAI:
        transport = httpx.MockTransport(self.handle)
        return AsyncOpenAI(api_key="sk-test", http_client=httpx.AsyncClient(transport=transport), max_retries=0)


def build(api: str, server: FakeOpenAI) -> Agent[Any]:
    client = server.client()
    if api == "responses":
        model: Any = OpenAIResponsesModel(model="gpt-4o", openai_client=client)
    else:
        model = OpenAIChatCompletionsModel(model="gpt-4o", openai_client=client)
    return Agent(name="support", instructions="Help.", model=model, tools=[lookup])


APIS = ["responses", "chat_completions"]


@pytest.mark.parametrize("api", APIS)
async def test_sdk_meter_alone_counts_each_call(api: str) -> None:
    """Without the hooks, actguard's SDK meter counts the agent's calls (so the next test has two meters)."""
    server = FakeOpenAI()
    async with BudgetGuard() as outer:
        result = await Runner.run(build(api, server), "How long do refunds take?")
    assert result.final_output == "Refunds take 5 days."
    assert server.calls == 2
    assert outer.usage.calls == 2 and outer.tokens_used == 700


@pytest.mark.parametrize("api", APIS)
async def test_hooks_and_sdk_meter_count_each_call_once(api: str) -> None:
    server = FakeOpenAI()
    hooks = ActGuardRunHooks(user_id="alice")
    with capture_events() as events:
        async with BudgetGuard() as outer:
            result = await Runner.run(build(api, server), "How long do refunds take?", hooks=hooks)
    assert result.final_output == "Refunds take 5 days."
    run_budget = hooks.budget_for(result)
    assert run_budget is not None
    for guard in (outer, run_budget):
        usage = guard.usage
        assert (usage.calls, usage.input_tokens, usage.cached_input_tokens) == (2, 600, 200), guard
        assert (usage.output_tokens, usage.reasoning_tokens) == (100, 20), guard
    assert outer.usd_used == pytest.approx(run_budget.usd_used)
    # One recorded event a call (the SDK meter's, into `outer`); the run budget's charges are "charged" events.
    assert_one_recorded_event_per_call(events, 2, run_budget.usd_used, api)


@pytest.mark.parametrize("api", APIS)
async def test_streamed_runs_count_each_call_once(api: str) -> None:
    server = FakeOpenAI()
    hooks = ActGuardRunHooks(user_id="alice")
    async with BudgetGuard() as outer:
        result = Runner.run_streamed(build(api, server), "How long do refunds take?", hooks=hooks)
        async for _ in result.stream_events():
            pass
    assert result.final_output == "Refunds take 5 days."
    run_budget = hooks.budget_for(result)
    assert run_budget is not None
    for guard in (outer, run_budget):
        usage = guard.usage
        assert (usage.calls, usage.input_tokens, usage.cached_input_tokens) == (2, 600, 200), guard
        assert (usage.output_tokens, usage.reasoning_tokens) == (100, 20), guard


@pytest.mark.parametrize("api", APIS)
async def test_hooks_alone_meter_and_stop_the_sdk_models(api: str) -> None:
    """Outside any BudgetGuard the SDK meter records nothing: the run's own budget has the call and stops the run."""
    server = FakeOpenAI()
    hooks = ActGuardRunHooks(token_limit=300)
    with pytest.raises(BudgetExceededError):
        await Runner.run(build(api, server), "How long do refunds take?", hooks=hooks)
    assert server.calls == 1
    budget = hooks.last_budget
    assert budget is not None and budget.tokens_used == 350 and budget.usage.cached_input_tokens == 100


class NoIdModel(ScriptedModel):
    """A model of one's own that reports no response id (no SDK meter sees it)."""

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        response = await super().get_response(*args, **kwargs)
        response.response_id = None
        return response


async def test_calls_without_an_id_from_other_models_reach_the_enclosing_guard() -> None:
    model = NoIdModel([tool_call("lookup", {"query": "x"}, input_tokens=40, output_tokens=2), answer("ok")])
    hooks = ActGuardRunHooks()
    async with BudgetGuard() as outer:
        result = await Runner.run(Agent(name="a", model=model, tools=[lookup]), "go", hooks=hooks)
    assert outer.usage.calls == 2 and outer.tokens_used == 42 + 120
    assert hooks.budget_for(result) is not None and hooks.budget_for(result).tokens_used == 42 + 120  # type: ignore[union-attr]


# -- streamed Chat Completions without stream usage (issue 15, defect 1) --------------------------------------------
class GatewayOpenAI(FakeOpenAI):
    """An OpenAI-compatible gateway: streams never carry a usage chunk, whatever ``stream_options`` asks."""

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/chat/completions") and json.loads(request.content or b"{}").get("stream"):
            self.calls += 1
            return chat_stream(chat_payload(self.calls), include_usage=False)
        return super().handle(request)


def chat_agent(server: FakeOpenAI, include_usage: bool | None) -> Agent[Any]:
    from agents import ModelSettings

    model = OpenAIChatCompletionsModel(model="gpt-4o", openai_client=server.client())
    settings = ModelSettings(include_usage=include_usage)
    return Agent(name="support", instructions="Help.", model=model, tools=[lookup], model_settings=settings)


async def stream_run(agent: Agent[Any], hooks: ActGuardRunHooks) -> Any:
    result = Runner.run_streamed(agent, "How long do refunds take?", hooks=hooks)
    async for _ in result.stream_events():
        pass
    return result


async def test_stream_without_usage_inside_a_guard_charges_the_sdk_meters_count_to_the_run() -> None:
    """include_usage=False: actguard's SDK meter asks for the usage and keeps it; the run's budget gets its count."""
    server = FakeOpenAI()
    hooks = ActGuardRunHooks(user_id="alice")
    async with BudgetGuard() as outer:
        result = await stream_run(chat_agent(server, include_usage=False), hooks)
    run_budget = hooks.budget_for(result)
    assert run_budget is not None
    for guard in (outer, run_budget):
        usage = guard.usage
        assert (usage.calls, usage.input_tokens, usage.cached_input_tokens) == (2, 600, 200), guard
        assert (usage.output_tokens, usage.reasoning_tokens) == (100, 20), guard
    assert run_budget.usd_used == pytest.approx(outer.usd_used)


async def test_stream_without_usage_is_charged_an_estimate_and_stopped_by_usd_limit() -> None:
    """A gateway that never reports stream usage, no enclosing guard: the run is charged an estimate (warned about
    once) and its usd_limit stops it."""
    from actguard import ActGuardWarning

    server = GatewayOpenAI()
    hooks = ActGuardRunHooks(user_id="alice", usd_limit=1e-7)
    with pytest.warns(ActGuardWarning, match="reported no token usage"), pytest.raises(BudgetExceededError):
        await stream_run(chat_agent(server, include_usage=None), hooks)
    assert server.calls == 1
    budget = hooks.last_budget
    assert budget is not None and budget.usage.calls == 1 and budget.tokens_used > 0 and budget.usd_used > 0


async def test_stream_without_usage_through_a_gateway_inside_a_guard_counts_once() -> None:
    """The gateway drops the usage the SDK meter asked for: the SDK meter charges its estimate to the enclosing
    guard (warning once), and the run's budget gets that same estimate; the enclosing guard counts each call once."""
    from actguard import ActGuardWarning

    server = GatewayOpenAI()
    hooks = ActGuardRunHooks(user_id="alice")
    with pytest.warns(ActGuardWarning, match="without reporting token usage"):
        async with BudgetGuard() as outer:
            result = await stream_run(chat_agent(server, include_usage=None), hooks)
    run_budget = hooks.budget_for(result)
    assert run_budget is not None
    assert outer.usage.calls == 2 and run_budget.usage.calls == 2
    assert outer.tokens_used == run_budget.tokens_used > 0
