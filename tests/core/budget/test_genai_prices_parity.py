"""Every model genai-prices lists for OpenAI, Anthropic and Google is metered to the USD genai-prices computes.

For each model: random usages with every separately billed field set (cache reads and writes, 1-hour cache writes,
audio / image / video tokens, reasoning, web searches, long prompts that reach long-context tiers), as the provider's
response body. genai-prices prices the body with its own extractor (``extract_usage`` + ``calc_price``); actguard
meters the same body, parsed by the core parser and through the real SDKs (sync, async and streamed) over a
loopback server.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from budget_fakes import LLMServer, Reply
from genai_prices import calc_price, data_snapshot, extract_usage

from actguard import BudgetGuard, prices
from actguard.budget import usage_parsing

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:genai_prices")


def _models(provider: str, family: str | None = None) -> list[str]:
    snapshot = data_snapshot.get_snapshot()
    found = next(p for p in snapshot.providers if p.id == provider)
    ids = []
    for model in found.models:
        try:
            snapshot.find_provider_model(model.id, None, provider, None)
            ids.append(model.id)
        except LookupError:  # an id its own match rule does not accept (fine-tunes): a name it does accept
            ids.append(model.match.starts_with + "08-06:acme::abc123")
    if family == "claude":
        return [m for m in ids if "claude" in m]
    if family == "gemini":
        return [m for m in ids if "claude" not in m]
    return ids


def _prompt(rng: random.Random) -> int:
    return rng.choice([rng.randint(2_000, 20_000), rng.randint(150_000, 400_000)])


# -- response bodies with every billed field set --------------------------------------------------------------------
def chat_body(model: str, rng: random.Random) -> dict[str, Any]:
    prompt, completion = _prompt(rng), rng.randint(100, 5_000)
    return {
        "id": f"chatcmpl-{rng.getrandbits(40)}",
        "object": "chat.completion",
        "created": 1730000000,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "logprobs": None, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {
                "cached_tokens": rng.randint(1, prompt // 4),
                "cache_write_tokens": rng.randint(1, prompt // 4),
                "audio_tokens": rng.randint(1, prompt // 4),
            },
            "completion_tokens_details": {
                "reasoning_tokens": rng.randint(1, completion // 3),
                "audio_tokens": rng.randint(1, completion // 3),
            },
        },
    }


def responses_body(model: str, rng: random.Random) -> dict[str, Any]:
    prompt, output = _prompt(rng), rng.randint(100, 5_000)
    return {
        "id": f"resp_{rng.getrandbits(40)}",
        "object": "response",
        "created_at": 1730000000,
        "status": "completed",
        "model": model,
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "ok", "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": prompt,
            "input_tokens_details": {
                "cached_tokens": rng.randint(1, prompt // 3),
                "cache_write_tokens": rng.randint(1, prompt // 3),
            },
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": rng.randint(1, output // 2)},
            "total_tokens": prompt + output,
        },
    }


def anthropic_body(model: str, rng: random.Random) -> dict[str, Any]:
    fresh = rng.randint(100, 20_000)
    write_5m, write_1h = rng.randint(1, 50_000), rng.randint(1, 50_000)
    read = rng.choice([rng.randint(1, 5_000), rng.randint(150_000, 300_000)])
    output = rng.randint(100, 5_000)
    return {
        "id": f"msg_{rng.getrandbits(40)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": fresh,
            "cache_creation_input_tokens": write_5m + write_1h,
            "cache_read_input_tokens": read,
            "cache_creation": {"ephemeral_5m_input_tokens": write_5m, "ephemeral_1h_input_tokens": write_1h},
            "server_tool_use": {"web_search_requests": rng.randint(1, 20)},
            "output_tokens": output,
            "output_tokens_details": {"thinking_tokens": rng.randint(1, output // 2)},
            "service_tier": "standard",
        },
    }


def _modalities(**counts: int) -> list[dict[str, Any]]:
    return [{"modality": name.upper(), "tokenCount": value} for name, value in counts.items()]


def gemini_body(model: str, rng: random.Random) -> dict[str, Any]:
    prompt, candidates, thoughts = _prompt(rng), rng.randint(100, 5_000), rng.randint(1, 2_000)
    tool_use = rng.randint(1, 2_000)
    audio, image, document, video = (rng.randint(1, prompt // 10) for _ in range(4))
    cached = rng.randint(audio + image, prompt // 2)
    cached_audio, cached_image = rng.randint(0, audio), rng.randint(0, image)
    out_audio, out_image, out_video = (rng.randint(1, candidates // 4) for _ in range(3))
    tool_audio, tool_image = rng.randint(0, tool_use // 3), rng.randint(0, tool_use // 3)
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "index": 0, "finishReason": "STOP"}],
        "modelVersion": model,
        "responseId": f"gem-{rng.getrandbits(40)}",
        "usageMetadata": {
            "promptTokenCount": prompt,
            "cachedContentTokenCount": cached,
            "candidatesTokenCount": candidates,
            "thoughtsTokenCount": thoughts,
            "toolUsePromptTokenCount": tool_use,
            "totalTokenCount": prompt + candidates + thoughts + tool_use,
            "promptTokensDetails": _modalities(
                text=prompt - audio - image - document - video, audio=audio, image=image, document=document, video=video
            ),
            "cacheTokensDetails": _modalities(
                text=cached - cached_audio - cached_image, audio=cached_audio, image=cached_image
            ),
            "candidatesTokensDetails": _modalities(
                text=candidates - out_audio - out_image - out_video, audio=out_audio, image=out_image, video=out_video
            ),
            "toolUsePromptTokensDetails": _modalities(
                text=tool_use - tool_audio - tool_image, audio=tool_audio, image=tool_image
            ),
        },
    }


# (genai-prices provider, api flavor, body maker, core parser, usage key, models)
FLAVORS: list[tuple[str, str, Any, Any, str, list[str]]] = [
    ("openai", "chat", chat_body, usage_parsing.openai_chat_usage, "usage", _models("openai")),
    ("openai", "responses", responses_body, usage_parsing.openai_responses_usage, "usage", _models("openai")),
    ("anthropic", "default", anthropic_body, usage_parsing.anthropic_usage, "usage", _models("anthropic")),
    ("google", "default", gemini_body, usage_parsing.google_usage, "usageMetadata", _models("google", "gemini")),
    ("google", "anthropic", anthropic_body, usage_parsing.anthropic_usage, "usage", _models("google", "claude")),
]


def genai_usd(body: dict[str, Any], provider: str, flavor: str, model: str) -> float:
    extracted = extract_usage(body, provider_id=provider, api_flavor=flavor)
    if (provider, flavor) == ("google", "anthropic"):
        # genai-prices prices web searches of Claude on Vertex (web_searches_kcount) but its Vertex extractor does not
        # read them from the body; actguard charges them as the Anthropic extractor reads them.
        extracted.usage.web_searches = body["usage"]["server_tool_use"]["web_search_requests"]
    return float(calc_price(extracted.usage, model, provider_id=provider).total_price)


def unambiguous(body: dict[str, Any], model: str, provider: str) -> dict[str, Any]:
    """Chat Completions reports cached and audio prompt tokens but not cached audio ones: for a model with a cached
    audio rate genai-prices refuses such a usage as ambiguous, so one of the two is left out (actguard would charge
    the cached tokens as text)."""
    price = prices.lookup(model, provider)
    details = body.get("usage", {}).get("prompt_tokens_details")
    if price is not None and price.cached_audio_input_per_mtok is not None and details:
        details["audio_tokens" if len(model) % 2 else "cached_tokens"] = 0
    return body


def assert_same(ours: float, theirs: float, what: str) -> None:
    assert math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-12), f"{what}: actguard ${ours!r}, genai ${theirs!r}"


@pytest.mark.parametrize(("provider", "flavor", "make", "parse", "key", "models"), FLAVORS, ids=lambda v: str(v)[:20])
def test_core_parser_prices_like_genai_prices(
    provider: str, flavor: str, make: Any, parse: Any, key: str, models: list[str]
) -> None:
    assert models
    for model in models:
        rng = random.Random(f"{provider}/{flavor}/{model}")
        for _ in range(5):
            body = unambiguous(make(model, rng), model, provider)
            usage = parse(body[key], model, provider)
            price = prices.lookup(model, provider)
            assert price is not None, model
            assert_same(price.cost(usage), genai_usd(body, provider, flavor, model), f"{provider}/{flavor} {model}")


def test_anthropic_1h_cache_writes_at_their_own_rate() -> None:
    """The issue's case: claude-sonnet-4-0, 1,000 input, 10,000 one-hour cache writes, 500 output tokens."""
    body = {
        "input_tokens": 1000,
        "cache_creation_input_tokens": 10_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 10_000},
        "output_tokens": 500,
    }
    with BudgetGuard(usd_limit=1.0) as guard:
        guard.record(usage_parsing.anthropic_usage(body, "claude-sonnet-4-0"))
    assert guard.usd_used == pytest.approx(0.0705, abs=1e-12)
    by_model = guard.usage_by_model["claude-sonnet-4-0"]
    assert (by_model.cache_write_tokens, by_model.cache_write_1h_tokens) == (10_000, 10_000)


# -- through the SDKs: sync, async, streamed ------------------------------------------------------------------------
def _chat_stream(body: dict[str, Any]) -> Reply:
    chunk = {k: body[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    events: list[tuple[str | None, Any]] = [
        (None, chunk | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}}]}),
        (None, chunk | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        (None, chunk | {"choices": [], "usage": body["usage"]}),
        (None, "[DONE]"),
    ]
    return Reply(events=events)


def _anthropic_stream(body: dict[str, Any]) -> Reply:
    usage = body["usage"]
    start = {k: v for k, v in usage.items() if k != "output_tokens"} | {"output_tokens": 1}
    message = {k: body[k] for k in ("id", "type", "role", "model")} | {"content": [], "usage": start}
    final = {"output_tokens": usage["output_tokens"], "server_tool_use": usage["server_tool_use"]}
    events: list[tuple[str | None, Any]] = [
        ("message_start", {"type": "message_start", "message": message}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": final}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return Reply(events=events)


def _gemini_stream(body: dict[str, Any]) -> Reply:
    first = {k: v for k, v in body.items() if k != "usageMetadata"}
    return Reply(events=[(None, first), (None, body)])


MODES = ["sync", "async", "stream"]


@pytest.mark.parametrize("mode", MODES)
async def test_openai_sdk_meters_like_genai_prices(llm: LLMServer, mode: str) -> None:
    import openai

    sync_client, async_client = openai.OpenAI(), openai.AsyncOpenAI()
    messages = [{"role": "user", "content": "Hi"}]
    for model in _models("openai"):
        body = unambiguous(chat_body(model, random.Random(f"sdk/{mode}/{model}")), model, "openai")
        llm.queue(_chat_stream(body) if mode == "stream" else Reply(body))
        with BudgetGuard() as guard:
            if mode == "sync":
                sync_client.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
            elif mode == "async":
                await async_client.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
            else:
                for _ in sync_client.chat.completions.create(model=model, messages=messages, stream=True):  # type: ignore[arg-type]
                    pass
        assert_same(guard.usd_used, genai_usd(body, "openai", "chat", model), f"openai {mode} {model}")
    await async_client.close()
    sync_client.close()


@pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")  # the SDK warns of old models
@pytest.mark.parametrize("mode", MODES)
async def test_anthropic_sdk_meters_like_genai_prices(llm: LLMServer, mode: str) -> None:
    import anthropic

    sync_client, async_client = anthropic.Anthropic(), anthropic.AsyncAnthropic()
    messages = [{"role": "user", "content": "Hi"}]
    for model in _models("anthropic"):
        body = anthropic_body(model, random.Random(f"sdk/{mode}/{model}"))
        llm.queue(_anthropic_stream(body) if mode == "stream" else Reply(body))
        with BudgetGuard() as guard:
            if mode == "sync":
                sync_client.messages.create(model=model, max_tokens=100, messages=messages)  # type: ignore[arg-type]
            elif mode == "async":
                await async_client.messages.create(model=model, max_tokens=100, messages=messages)  # type: ignore[arg-type]
            else:
                with sync_client.messages.stream(model=model, max_tokens=100, messages=messages) as stream:  # type: ignore[arg-type]
                    for _ in stream:
                        pass
        assert_same(guard.usd_used, genai_usd(body, "anthropic", "default", model), f"anthropic {mode} {model}")
    await async_client.close()
    sync_client.close()


@pytest.mark.parametrize("mode", MODES)
async def test_google_sdk_meters_like_genai_prices(llm: LLMServer, gemini_client: Any, mode: str) -> None:
    for model in _models("google", "gemini"):
        body = gemini_body(model, random.Random(f"sdk/{mode}/{model}"))
        llm.queue(_gemini_stream(body) if mode == "stream" else Reply(body))
        with BudgetGuard() as guard:
            if mode == "sync":
                gemini_client.models.generate_content(model=model, contents="Hi")
            elif mode == "async":
                await gemini_client.aio.models.generate_content(model=model, contents="Hi")
            else:
                for _ in gemini_client.models.generate_content_stream(model=model, contents="Hi"):
                    pass
        assert_same(guard.usd_used, genai_usd(body, "google", "default", model), f"google {mode} {model}")
