"""OpenAI SDK metering and enforcement, over the real SDK and a loopback server."""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

import openai
import pytest
from budget_fakes import (
    LLMServer,
    chat_completion,
    chat_stream,
    echo_chat,
    embedding,
    guard_options,
    response,
    response_stream,
)

import actguard
from actguard import BudgetExceededError, BudgetGuard, UnknownModelPriceError
from actguard.budget import providers
from actguard.testing import capture_events

HI = [{"role": "user", "content": "Tell me a story."}]  # 20 characters of text: a 5-token prompt estimate
GPT4O_IN, GPT4O_CACHED, GPT4O_OUT = 2.5e-6, 1.25e-6, 10e-6  # USD per token


def _chat(client: openai.OpenAI, **kwargs: Any) -> Any:
    return client.chat.completions.create(model="gpt-4o", messages=HI, **kwargs)


def test_chat_usage_breakdown_and_cached_rate(llm: LLMServer) -> None:
    llm.queue(chat_completion(prompt_tokens=1000, cached_tokens=400, completion_tokens=200, reasoning_tokens=50))
    with BudgetGuard(usd_limit=1.0) as guard:
        _chat(openai.OpenAI())
    assert guard.usd_used == pytest.approx(600 * GPT4O_IN + 400 * GPT4O_CACHED + 200 * GPT4O_OUT)
    assert guard.tokens_used == 1200
    usage = guard.usage_by_model["gpt-4o-2024-08-06"]  # the response's model name
    assert (usage.calls, usage.input_tokens, usage.cached_input_tokens) == (1, 1000, 400)
    assert (usage.output_tokens, usage.reasoning_tokens) == (200, 50)


def test_response_model_wins_over_request_model(llm: LLMServer) -> None:
    llm.queue(chat_completion(model="gpt-4o-mini-2024-07-18", prompt_tokens=1_000_000, completion_tokens=0))
    with BudgetGuard(usd_limit=10.0) as guard:
        _chat(openai.OpenAI())
    assert guard.usd_used == pytest.approx(0.15)  # gpt-4o-mini's input price, not gpt-4o's


def test_spent_guard_sends_nothing(llm: LLMServer) -> None:
    client = openai.OpenAI()
    with BudgetGuard(usd_limit=0.01) as guard:
        with pytest.raises(BudgetExceededError):
            guard.add_cost("search", 0.01)  # spends it all: recorded, then refused
        with pytest.raises(BudgetExceededError) as info:
            _chat(client)
        with pytest.raises(BudgetExceededError):
            _chat(client, stream=True)
    assert llm.requests == []
    assert info.value.limit_type == "usd"
    assert info.value.response is None


def test_outside_a_guard_the_sdk_is_untouched(llm: LLMServer) -> None:
    assert "openai" in providers.installed()
    llm.queue(chat_stream(["a", "b"]))
    chunks = list(_chat(openai.OpenAI(), stream=True))
    assert "stream_options" not in llm.requests[-1].body
    assert chunks[-1].choices == [] and chunks[-1].usage is not None  # nothing hidden either


def test_stream_options_are_kept_and_usage_chunk_hidden(llm: LLMServer) -> None:
    llm.queue(chat_stream(["Once ", "upon"], prompt_tokens=10, completion_tokens=2))
    with BudgetGuard(usd_limit=1.0) as guard:
        stream = _chat(openai.OpenAI(), stream=True, stream_options={"include_obfuscation": False})
        chunks = list(stream)
    assert llm.requests[-1].body["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert all(chunk.choices for chunk in chunks)  # the usage-only chunk actguard asked for is not shown
    assert guard.tokens_used == 12


def test_usage_chunk_shown_when_caller_asked_for_it(llm: LLMServer) -> None:
    llm.queue(chat_stream(["Once"], prompt_tokens=10, completion_tokens=2))
    with BudgetGuard(usd_limit=1.0) as guard:
        chunks = list(_chat(openai.OpenAI(), stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].usage.completion_tokens == 2
    assert guard.tokens_used == 12


def test_stream_as_context_manager(llm: LLMServer) -> None:
    llm.queue(chat_stream(["Once ", "upon"], prompt_tokens=10, completion_tokens=2))
    with BudgetGuard(usd_limit=1.0) as guard, _chat(openai.OpenAI(), stream=True) as stream:
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    assert text == "Once upon"
    assert guard.tokens_used == 12
    assert guard.usage.calls == 1


def test_stream_stops_as_soon_as_estimate_crosses(llm: LLMServer) -> None:
    pieces = ["x" * 400] * 50  # 100 tokens a piece by the chars/4 estimate; $0.001 a piece at gpt-4o's price
    llm.queue(chat_stream(pieces, prompt_tokens=5, completion_tokens=5000))
    seen: list[str] = []
    with BudgetGuard(usd_limit=0.0035) as guard, pytest.raises(BudgetExceededError) as info:
        for chunk in _chat(openai.OpenAI(), stream=True):
            seen.append(chunk.choices[0].delta.content or "")
    assert len([s for s in seen if s]) == 3  # the 4th piece takes the estimate to $0.00401
    assert info.value.response.choices[0].delta.content == "x" * 400
    assert guard.tokens_used == 5 + 400  # charged the estimate: prompt + streamed text
    assert guard.usd_used == pytest.approx(5 * GPT4O_IN + 400 * GPT4O_OUT)


def test_stream_closed_early_is_charged_the_estimate(llm: LLMServer) -> None:
    llm.queue(chat_stream(["Once ", "upon ", "a time"], prompt_tokens=1000, completion_tokens=1000))
    with BudgetGuard(usd_limit=1.0) as guard:
        stream = _chat(openai.OpenAI(), stream=True)
        next(stream)  # role chunk
        next(stream)  # "Once "
        stream.close()
        assert guard.tokens_used == 5 + 2  # prompt estimate + ceil(5 chars / 4)
        stream.close()
    assert guard.usage.calls == 1


# Dropping an unclosed SDK stream leaves its socket to the garbage collector, which warns (with or without actguard).
@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_abandoned_stream_is_charged(llm: LLMServer) -> None:
    llm.queue(chat_stream(["Once ", "upon ", "a time"]))
    with BudgetGuard(usd_limit=1.0) as guard:
        stream = _chat(openai.OpenAI(), stream=True)
        for chunk in stream:
            if chunk.choices[0].delta.content:
                break
        del stream, chunk
        gc.collect()
        assert guard.tokens_used == 7
        assert guard.usage.calls == 1


@pytest.mark.parametrize("shared", [False, True], ids=["per-process", "shared"])
async def test_async_chat_and_stream(llm: LLMServer, shared: bool) -> None:
    client = openai.AsyncOpenAI()
    llm.queue(chat_completion(id="a1", prompt_tokens=100, completion_tokens=10))
    llm.queue(chat_stream(["Once ", "upon"], id="a2", prompt_tokens=10, completion_tokens=2))
    llm.queue(chat_stream(["Once ", "upon"], id="a3", prompt_tokens=10, completion_tokens=2))
    async with BudgetGuard(usd_limit=1.0, **guard_options(shared)) as guard:
        await client.chat.completions.create(model="gpt-4o", messages=HI)
        stream = await client.chat.completions.create(model="gpt-4o", messages=HI, stream=True)
        text = [chunk.choices[0].delta.content async for chunk in stream]
        assert text == ["", "Once ", "upon", None]
        async with await client.chat.completions.create(model="gpt-4o", messages=HI, stream=True) as stream:
            await stream.__anext__()
            await stream.__anext__()
        assert guard.tokens_used == 110 + 12 + 7  # the last stream closed early: charged its estimate
    assert guard.usage.calls == 3
    await client.close()


@pytest.mark.parametrize("shared", [False, True], ids=["per-process", "shared"])
async def test_async_stream_stops_when_crossing(llm: LLMServer, shared: bool) -> None:
    llm.queue(chat_stream(["x" * 400] * 20, prompt_tokens=5, completion_tokens=2000))
    client = openai.AsyncOpenAI()
    async with BudgetGuard(token_limit=250, **guard_options(shared)) as guard:
        stream = await client.chat.completions.create(model="gpt-4o", messages=HI, stream=True)
        with pytest.raises(BudgetExceededError):
            async for _ in stream:
                pass
    assert guard.tokens_used == 5 + 300  # stopped on the 3rd piece
    await client.close()


def test_chat_stream_helper(llm: LLMServer) -> None:
    llm.queue(chat_stream(["Once ", "upon"], prompt_tokens=10, completion_tokens=2))
    client = openai.OpenAI()
    completions = (
        client.chat.completions if hasattr(client.chat.completions, "stream") else client.beta.chat.completions
    )
    with BudgetGuard(usd_limit=1.0) as guard, completions.stream(model="gpt-4o", messages=HI) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Once upon"
    assert guard.tokens_used == 12


def test_with_raw_response(llm: LLMServer) -> None:
    llm.queue(chat_completion(prompt_tokens=10, completion_tokens=2))
    with BudgetGuard(usd_limit=1.0) as guard:
        raw = openai.OpenAI().chat.completions.with_raw_response.create(model="gpt-4o", messages=HI)
        assert raw.parse().usage.total_tokens == 12
    assert guard.tokens_used == 12


def test_responses_create_and_stream(llm: LLMServer) -> None:
    client = openai.OpenAI()
    llm.queue(response(id="r1", input_tokens=500, cached_tokens=100, output_tokens=100, reasoning_tokens=40))
    llm.queue(response_stream(["Hel", "lo"], id="r2", input_tokens=50, output_tokens=10))
    llm.queue(response_stream(["Hel", "lo"], id="r3", input_tokens=50, output_tokens=10))
    with BudgetGuard(usd_limit=1.0) as guard:
        client.responses.create(model="gpt-4o", input="Hello!")
        with client.responses.stream(model="gpt-4o", input="Hello!") as stream:
            assert stream.get_final_response().output_text == "Hello"
        events = list(client.responses.create(model="gpt-4o", input="Hello!", stream=True))
    assert events[-1].type == "response.completed"
    usage = guard.usage
    assert (usage.calls, usage.input_tokens, usage.cached_input_tokens, usage.reasoning_tokens) == (3, 600, 100, 40)
    assert guard.usd_used == pytest.approx(500 * GPT4O_IN + 100 * GPT4O_CACHED + 120 * GPT4O_OUT)


async def test_async_responses(llm: LLMServer) -> None:
    client = openai.AsyncOpenAI()
    llm.queue(response(id="r1", input_tokens=500, output_tokens=100))
    llm.queue(response_stream(["Hel", "lo"], id="r2", input_tokens=50, output_tokens=10))
    async with BudgetGuard(usd_limit=1.0) as guard:
        await client.responses.create(model="gpt-4o", input="Hello!")
        async with client.responses.stream(model="gpt-4o", input="Hello!") as stream:
            final = await stream.get_final_response()
    assert final.output_text == "Hello"
    assert guard.tokens_used == 660
    await client.close()


def test_embeddings(llm: LLMServer) -> None:
    llm.queue(embedding(prompt_tokens=1_000_000))
    with BudgetGuard(usd_limit=1.0) as guard:
        openai.OpenAI().embeddings.create(model="text-embedding-3-small", input="hello")
    assert guard.usd_used == pytest.approx(0.02)
    assert guard.usage_by_model["text-embedding-3-small"].input_tokens == 1_000_000


def test_adapter_and_sdk_count_one_call_once(llm: LLMServer) -> None:
    llm.queue(chat_completion(id="chatcmpl-42", prompt_tokens=100, completion_tokens=10))
    with BudgetGuard(usd_limit=1.0) as outer, BudgetGuard(name="run") as inner:
        result = _chat(openai.OpenAI())
        # a framework adapter sees the same call and records it under the provider's response id
        inner.record(actguard.LLMUsage("gpt-4o", "openai", 100, 0, 0, 10), call_id=result.id)
    assert inner.usage.calls == outer.usage.calls == 1
    assert outer.tokens_used == 110


def test_unknown_model_refused_before_sending(llm: LLMServer) -> None:
    with BudgetGuard(usd_limit=1.0), pytest.raises(UnknownModelPriceError) as info:
        openai.OpenAI().chat.completions.create(model="my-finetune", messages=HI)
    assert llm.requests == []
    assert "my-finetune" in str(info.value)
    assert "actguard.prices.register('my-finetune'" in str(info.value)
    assert "on_unknown_model='warn'" in str(info.value)


def test_unknown_model_without_usd_limit_is_sent(llm: LLMServer) -> None:
    llm.queue(chat_completion(model="my-finetune", prompt_tokens=10, completion_tokens=2))
    with BudgetGuard(token_limit=100) as guard:
        openai.OpenAI().chat.completions.create(model="my-finetune", messages=HI)
    assert guard.tokens_used == 12


def test_unknown_model_warns_and_uses_fallback(llm: LLMServer) -> None:
    llm.queue(chat_completion(model="my-finetune", prompt_tokens=1_000_000, completion_tokens=0))
    guard = BudgetGuard(
        usd_limit=10.0, on_unknown_model="warn", fallback_price={"input_per_mtok": 3, "output_per_mtok": 9}
    )
    with guard, pytest.warns(actguard.ActGuardWarning, match="my-finetune"):
        openai.OpenAI().chat.completions.create(model="my-finetune", messages=HI)
    assert guard.usd_used == pytest.approx(3.0)


def test_registered_price_is_used(llm: LLMServer) -> None:
    llm.queue(chat_completion(model="my-finetune", prompt_tokens=1_000_000, completion_tokens=1_000_000))
    actguard.prices.register("my-finetune", input_per_mtok=1.0, output_per_mtok=2.0)
    try:
        with BudgetGuard(usd_limit=10.0) as guard:
            openai.OpenAI().chat.completions.create(model="my-finetune", messages=HI)
    finally:
        actguard.prices.unregister("my-finetune")
    assert guard.usd_used == pytest.approx(3.0)


def test_strict_mode_refuses_worst_case_before_sending(llm: LLMServer) -> None:
    client = openai.OpenAI()
    llm.queue(chat_completion(prompt_tokens=5, completion_tokens=100))
    with BudgetGuard(usd_limit=0.01, strict=True) as guard:
        with pytest.raises(BudgetExceededError) as info:
            _chat(client, max_tokens=2000)  # 5 * $2.5e-6 + 2000 * $1e-5 = $0.0200125 > $0.01
        assert llm.requests == []
        assert info.value.used == pytest.approx(0.0200125)
        _chat(client, max_tokens=500)  # worst case $0.005: sent
    assert len(llm.requests) == 1
    assert guard.usd_used == pytest.approx(5 * GPT4O_IN + 100 * GPT4O_OUT)


def test_strict_mode_is_off_by_default(llm: LLMServer) -> None:
    llm.queue(chat_completion(prompt_tokens=5, completion_tokens=100))
    with BudgetGuard(usd_limit=0.01):
        _chat(openai.OpenAI(), max_tokens=2000)
    assert len(llm.requests) == 1


def test_events_for_calls_and_exceeded_budgets(llm: LLMServer) -> None:
    llm.queue(chat_completion(prompt_tokens=10_000, completion_tokens=5_000))
    guard = BudgetGuard(user_id="alice", usd_limit=0.05)
    with capture_events() as events, guard, pytest.raises(BudgetExceededError):
        _chat(openai.OpenAI())
    (call,) = events.of(category="budget", name="llm_call")
    assert call["user_id"] == "alice"
    assert call["payload"]["model"] == "gpt-4o-2024-08-06"
    assert call["payload"]["usd"] == pytest.approx(0.075)
    assert call["payload"]["call_id"] == "chatcmpl-1"
    (exceeded,) = events.of(category="budget", name="budget_exceeded")
    assert exceeded["payload"]["limit_type"] == "usd"
    assert exceeded["outcome"] == "blocked"


def test_uninstall_and_reinstall(llm: LLMServer) -> None:
    llm.queue(chat_completion(prompt_tokens=10, completion_tokens=2))
    providers.uninstall()
    try:
        with BudgetGuard(usd_limit=1.0) as guard:  # creating a guard installs the meters again
            _chat(openai.OpenAI())
        assert guard.tokens_used == 12
        providers.uninstall()
        request = openai._base_client.SyncAPIClient.request
        assert not hasattr(request, "__actguard_original__")
    finally:
        providers.install()
    assert hasattr(openai._base_client.SyncAPIClient.request, "__actguard_original__")
    providers.install()  # idempotent: not wrapped twice
    assert not hasattr(openai._base_client.SyncAPIClient.request.__actguard_original__, "__actguard_original__")


async def test_concurrent_tasks_with_their_own_guards_over_the_sdk(llm: LLMServer) -> None:
    llm.queue(echo_chat())
    client = openai.AsyncOpenAI()

    async def run(n: int) -> int:
        async with BudgetGuard(name=f"task{n}") as guard:
            for _ in range(3):
                await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x" * n}])
        return guard.tokens_used

    sizes = list(range(10, 110, 10))
    totals = await asyncio.gather(*(run(n) for n in sizes))
    assert totals == [3 * (n + 1) for n in sizes]
    await client.close()


def test_threads_inside_one_guard_and_in_their_own_guards_over_the_sdk(llm: LLMServer) -> None:
    llm.queue(echo_chat())
    client = openai.OpenAI()
    own: dict[int, int] = {}

    def shared_work(n: int) -> None:
        for _ in range(5):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x" * n}])

    def own_work(n: int) -> None:
        with BudgetGuard() as guard:
            shared_work(n)
        own[n] = guard.tokens_used

    with BudgetGuard() as outer:
        with actguard.ContextThreadPoolExecutor(8) as pool:
            list(pool.map(shared_work, range(1, 9)))
        assert outer.tokens_used == sum(5 * (n + 1) for n in range(1, 9))
        assert outer.usage.calls == 40
    threads = [threading.Thread(target=own_work, args=(n,)) for n in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert own == {n: 5 * (n + 1) for n in range(1, 9)}
    assert outer.usage.calls == 40  # threads started without the context charge only their own guards
