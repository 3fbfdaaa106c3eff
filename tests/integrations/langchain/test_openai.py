"""ChatOpenAI over httpx.MockTransport: the handler records each call under the OpenAI response id, so a call also
metered by actguard's OpenAI SDK hook counts once."""

from __future__ import annotations

from contract import assert_one_recorded_event_per_call, require

core = require("langchain_core")

import pytest  # noqa: E402

if int(core.__version__.split(".")[0]) < 1:
    pytest.skip(
        "langchain-openai is installed in the lowest-v1 and latest sessions (lowest: langchain-core 0.3 alone)",
        allow_module_level=True,
    )
require("langchain_openai")

import json  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402

import actguard  # noqa: E402
from actguard import BudgetGuard, LLMUsage  # noqa: E402
from actguard.testing import capture_events  # noqa: E402
from actguard_langchain import ActGuardCallbackHandler  # noqa: E402

USAGE = {
    "prompt_tokens": 120,
    "completion_tokens": 30,
    "total_tokens": 150,
    "prompt_tokens_details": {"cached_tokens": 64},
    "completion_tokens_details": {"reasoning_tokens": 10},
}


def completion(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    if body.get("stream"):
        chunks = [
            {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}]},
            {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
            {"choices": [], "usage": USAGE},
        ]
        lines = [
            "data: "
            + json.dumps(
                {
                    "id": "chatcmpl-stream1",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "gpt-4o-2024-08-06",
                    **c,
                }
            )
            for c in chunks
        ]
        text = "\n\n".join([*lines, "data: [DONE]"]) + "\n\n"
        return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-abc123",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
            "usage": USAGE,
        },
    )


def chat(**kwargs: Any) -> ChatOpenAI:
    transport = httpx.MockTransport(completion)
    return ChatOpenAI(
        model="gpt-4o",
        api_key="sk-test",  # type: ignore[arg-type]
        http_client=httpx.Client(transport=transport),
        http_async_client=httpx.AsyncClient(transport=transport),
        max_retries=0,
        **kwargs,
    )


def same_call_again(response_id: str) -> LLMUsage:
    """What the OpenAI SDK hook records for the same call."""
    return LLMUsage("gpt-4o-2024-08-06", "openai", input_tokens=120, cached_input_tokens=64, output_tokens=30)


@pytest.mark.parametrize(
    ("mode", "stream_usage"),
    [("invoke", None), ("stream", True), ("stream", False), ("stream", None)],
    ids=["invoke", "stream, usage asked", "stream, usage not asked", "stream, default"],
)
def test_a_chatopenai_call_counts_once(mode: str, stream_usage: bool | None) -> None:
    handler = ActGuardCallbackHandler()
    model = chat() if stream_usage is None else chat(stream_usage=stream_usage)
    with capture_events() as events, BudgetGuard(user_id="alice", token_limit=10_000) as guard:
        if mode == "invoke":
            assert model.invoke("hi", config={"callbacks": [handler]}).content == "Hello"
        else:
            assert "".join(str(c.content) for c in model.stream("hi", config={"callbacks": [handler]})) == "Hello"
        response_id = "chatcmpl-abc123" if mode == "invoke" else "chatcmpl-stream1"
        # Whatever recorded it before (actguard's SDK meter, the handler), the same call recorded again is not counted.
        guard.record(same_call_again(response_id), call_id=response_id)
    assert guard.usage.calls == 1
    assert guard.tokens_used == 150
    usage = guard.usage_by_model["gpt-4o-2024-08-06"]
    assert usage.cached_input_tokens == 64
    expected = actguard.prices.cost_of(
        LLMUsage("gpt-4o-2024-08-06", "openai", input_tokens=120, cached_input_tokens=64, output_tokens=30)
    )
    assert guard.usd_used == pytest.approx(expected)
    run = handler.last_budget  # the run's own budget has the call too, even when the SDK meter hid the usage chunk
    assert run is not None and (run.usage.calls, run.tokens_used) == (1, 150)
    # One event reports the call (the SDK meter's, naming the caller's guard); the run budget's charge is "charged".
    reported = assert_one_recorded_event_per_call(events, 1, run.usd_used, mode)
    assert [(p["guards"], p["usd"]) for p in reported] == [([None], run.usd_used), ([None], run.usd_used)]


def test_without_an_active_guard_the_run_budget_meters_chatopenai_streams() -> None:
    handler = ActGuardCallbackHandler(token_limit=100)
    with capture_events() as events:
        for _ in chat().stream("hi", config={"callbacks": [handler]}):
            pass
    assert handler.last_budget is not None and handler.last_budget.tokens_used == 150
    # The SDK meter charged only the call's internal scope (no guard of the caller's): the run budget reports it.
    [event] = assert_one_recorded_event_per_call(events, 1, handler.last_budget.usd_used, "no guard")
    assert event["guards"] == [None]


def test_middleware_and_chatopenai_count_once() -> None:
    if int(core.__version__.split(".")[0]) < 1:  # pragma: no cover - langchain v1 sessions
        pytest.skip("needs langchain v1")
    from langchain.agents import create_agent

    from actguard_langchain import ActGuardMiddleware

    mw = ActGuardMiddleware(token_limit=10_000)
    with BudgetGuard() as guard:
        create_agent(chat(streaming=True), tools=[], middleware=[mw]).invoke({"messages": [("user", "hi")]})
    assert (guard.usage.calls, guard.tokens_used) == (1, 150)
    assert mw.last_budget is not None and (mw.last_budget.usage.calls, mw.last_budget.tokens_used) == (1, 150)


async def test_async_chatopenai_call_counts_once() -> None:
    handler = ActGuardCallbackHandler()
    with capture_events() as events:
        async with BudgetGuard(token_limit=10_000) as guard:
            await chat().ainvoke("hi", config={"callbacks": [handler]})
            guard.record(same_call_again("chatcmpl-abc123"), call_id="chatcmpl-abc123")
    assert (guard.usage.calls, guard.tokens_used) == (1, 150)
    # The handler settles in a context that cannot see the SDK meter's note: the guard's call id tells it instead.
    assert handler.last_budget is not None
    assert_one_recorded_event_per_call(events, 1, handler.last_budget.usd_used, "async")
