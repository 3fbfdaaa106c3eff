"""Anthropic and Google GenAI metering and enforcement, over the real SDKs and a loopback server."""

from __future__ import annotations

import inspect
from typing import Any

import anthropic
import pytest
from budget_fakes import LLMServer, anthropic_message, anthropic_stream, gemini, gemini_stream, guard_options

from actguard import BudgetExceededError, BudgetGuard, UnknownModelPriceError

MSG = [{"role": "user", "content": "Tell me a story."}]
# claude-haiku-4-5, USD per token: input, cache read, cache write, output
HAIKU = (1e-6, 0.1e-6, 1.25e-6, 5e-6)
# gemini-2.5-flash, USD per token: input, cached input, output (thinking included)
FLASH = (0.3e-6, 0.03e-6, 2.5e-6)


# -- Anthropic ---------------------------------------------------------------------------------------------------
def test_anthropic_cache_reads_and_writes_priced(llm: LLMServer) -> None:
    llm.queue(anthropic_message(input_tokens=100, cache_read=1000, cache_write=200, output_tokens=50))
    with BudgetGuard(usd_limit=1.0) as guard:
        anthropic.Anthropic().messages.create(model="claude-haiku-4-5", max_tokens=100, messages=MSG)
    usage = guard.usage_by_model["claude-haiku-4-5-20251001"]
    assert (usage.input_tokens, usage.cached_input_tokens, usage.cache_write_tokens) == (1300, 1000, 200)
    assert guard.usd_used == pytest.approx(100 * HAIKU[0] + 1000 * HAIKU[1] + 200 * HAIKU[2] + 50 * HAIKU[3])


def test_anthropic_streams(llm: LLMServer) -> None:
    client = anthropic.Anthropic()
    llm.queue(anthropic_stream(["Hel", "lo"], id="m1", input_tokens=100, cache_read=50, output_tokens=20))
    llm.queue(anthropic_stream(["Hel", "lo"], id="m2", input_tokens=100, output_tokens=20))
    with BudgetGuard(usd_limit=1.0) as guard:
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=MSG) as stream:
            assert "".join(stream.text_stream) == "Hello"
        events = [
            e.type for e in client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=MSG, stream=True)
        ]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    usage = guard.usage
    assert (usage.calls, usage.input_tokens, usage.cached_input_tokens, usage.output_tokens) == (2, 250, 50, 40)


def test_anthropic_stream_closed_early_uses_reported_input(llm: LLMServer) -> None:
    llm.queue(anthropic_stream(["Hello ", "world"], input_tokens=900, output_tokens=500))
    with BudgetGuard(usd_limit=1.0) as guard:
        stream = anthropic.Anthropic().messages.create(
            model="claude-haiku-4-5", max_tokens=100, messages=MSG, stream=True
        )
        for event in stream:
            if event.type == "content_block_delta":
                break
        stream.close()
    assert guard.tokens_used == 900 + 2  # input from message_start + ceil(6 chars / 4)


def test_anthropic_stream_stops_when_crossing(llm: LLMServer) -> None:
    llm.queue(anthropic_stream(["x" * 400] * 10, input_tokens=100, output_tokens=1000))
    with (
        BudgetGuard(token_limit=350) as guard,
        pytest.raises(BudgetExceededError),
        anthropic.Anthropic().messages.stream(model="claude-haiku-4-5", max_tokens=1000, messages=MSG) as stream,
    ):
        for _ in stream.text_stream:
            pass
    assert guard.tokens_used == 100 + 300


@pytest.mark.parametrize("shared", [False, True], ids=["per-process", "shared"])
async def test_anthropic_async(llm: LLMServer, shared: bool) -> None:
    client = anthropic.AsyncAnthropic()
    llm.queue(anthropic_message(id="m1", input_tokens=100, output_tokens=50))
    llm.queue(anthropic_stream(["Hel", "lo"], id="m2", input_tokens=100, output_tokens=20))
    async with BudgetGuard(usd_limit=1.0, **guard_options(shared)) as guard:
        await client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=MSG)
        async with client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=MSG) as stream:
            message = await stream.get_final_message()
    assert message.content[0].text == "Hello"
    assert guard.tokens_used == 270
    await client.close()


def test_anthropic_spent_guard_sends_nothing(llm: LLMServer) -> None:
    with BudgetGuard(token_limit=10):
        llm.queue(anthropic_message(input_tokens=100, output_tokens=50))
        with pytest.raises(BudgetExceededError) as info:
            anthropic.Anthropic().messages.create(model="claude-haiku-4-5", max_tokens=100, messages=MSG)
        assert info.value.response.id == "msg_01"  # crossed by this call: the response is attached
        with pytest.raises(BudgetExceededError):
            anthropic.Anthropic().messages.create(model="claude-haiku-4-5", max_tokens=100, messages=MSG)
    assert len(llm.requests) == 1


# -- Google GenAI ------------------------------------------------------------------------------------------------
def test_gemini_thinking_and_cached_tokens(llm: LLMServer, gemini_client: Any) -> None:
    llm.queue(gemini(prompt=1000, cached=400, candidates=100, thoughts=300))
    with BudgetGuard(usd_limit=1.0) as guard:
        result = gemini_client.models.generate_content(model="gemini-2.5-flash", contents="Hello!")
    assert result.text == "Hello!"
    usage = guard.usage_by_model["gemini-2.5-flash"]
    assert (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens, usage.reasoning_tokens) == (
        1000,
        400,
        400,
        300,
    )
    assert guard.usd_used == pytest.approx(600 * FLASH[0] + 400 * FLASH[1] + 400 * FLASH[2])


def test_gemini_stream(llm: LLMServer, gemini_client: Any) -> None:
    llm.queue(gemini_stream(["Once ", "upon ", "a time"], prompt=100, candidates=30, thoughts=10))
    with BudgetGuard(usd_limit=1.0) as guard:
        text = "".join(
            c.text for c in gemini_client.models.generate_content_stream(model="gemini-2.5-flash", contents="Hi")
        )
    assert text == "Once upon a time"
    assert ":streamGenerateContent" in llm.requests[-1].path
    assert guard.tokens_used == 140
    assert guard.usage.calls == 1


def test_gemini_stream_stops_when_crossing(llm: LLMServer, gemini_client: Any) -> None:
    llm.queue(gemini_stream(["x" * 40] * 10, prompt=100, candidates=1000))
    with BudgetGuard(token_limit=103) as guard, pytest.raises(BudgetExceededError):
        for _ in gemini_client.models.generate_content_stream(model="gemini-2.5-flash", contents="Hi"):
            pass
    assert guard.tokens_used == 103  # the 3rd chunk reported 100 prompt + 3 candidate tokens


@pytest.mark.parametrize("shared", [False, True], ids=["per-process", "shared"])
async def test_gemini_async(llm: LLMServer, gemini_client: Any, shared: bool) -> None:
    llm.queue(gemini(id="g1", prompt=100, candidates=10))
    llm.queue(gemini_stream(["Hel", "lo"], id="g2", prompt=100, candidates=20))
    async with BudgetGuard(usd_limit=1.0, **guard_options(shared)) as guard:
        await gemini_client.aio.models.generate_content(model="gemini-2.5-flash", contents="Hi")
        chunks = [
            c
            async for c in await gemini_client.aio.models.generate_content_stream(
                model="gemini-2.5-flash", contents="Hi"
            )
        ]
    assert "".join(c.text for c in chunks) == "Hello"
    assert guard.tokens_used == 230
    assert guard.usage.calls == 2


def test_gemini_unknown_model_refused(llm: LLMServer, gemini_client: Any) -> None:
    with BudgetGuard(usd_limit=1.0), pytest.raises(UnknownModelPriceError, match="gemini-imaginary"):
        gemini_client.models.generate_content(model="gemini-imaginary", contents="Hi")
    assert llm.requests == []


def test_gemini_tiered_long_context_price(llm: LLMServer, gemini_client: Any) -> None:
    llm.queue(gemini(model="gemini-2.5-pro", prompt=300_000, candidates=1000))
    with BudgetGuard(usd_limit=10.0) as guard:
        gemini_client.models.generate_content(model="gemini-2.5-pro", contents="Hi")
    # above 200k input tokens every token of the call is charged the long-context rates ($2.50 in, $15 out)
    assert guard.usd_used == pytest.approx(300_000 * 2.5e-6 + 1000 * 15e-6)


async def test_anthropic_with_raw_response(llm: LLMServer) -> None:
    llm.queue(anthropic_message(id="m1", input_tokens=100, output_tokens=50))
    llm.queue(anthropic_message(id="m2", input_tokens=100, output_tokens=50))
    with BudgetGuard(usd_limit=1.0) as guard:
        raw = anthropic.Anthropic().messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=100, messages=MSG
        )
        assert raw.parse().id == "m1"
    client = anthropic.AsyncAnthropic()
    async with guard:
        raw = await client.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=100, messages=MSG)
        parsed = raw.parse()
        message = await parsed if inspect.isawaitable(parsed) else parsed
        assert message.id == "m2"
    assert guard.usage.calls == 2
    await client.close()
