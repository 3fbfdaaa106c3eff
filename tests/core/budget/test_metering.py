"""Calls no layer could meter are charged an estimate (warned once, refused under strict); the metering log tells a
layer what another metered; SDK patches check the SDK once, undo only themselves and take the import hook with them;
every billed quantity reaches usage_by_model, events, register() and the CLI."""

from __future__ import annotations

import asyncio
import contextvars
import subprocess
import sys
import warnings
from typing import Any

import pytest
from budget_fakes import LLMServer, Reply, chat_completion, chat_stream

from actguard import ActGuardWarning, BudgetGuard, ConfigError, LLMUsage, UnmeteredCallError, prices
from actguard.budget import metering, providers
from actguard.budget.providers import _compat, _import_hook
from actguard.budget.providers._patch import Patches

MESSAGES = [{"role": "user", "content": "Tell me about Rome."}]


def _no_usage(reply: Reply) -> Reply:
    body = dict(reply.body)
    body.pop("usage")
    return Reply(body)


# -- the metering log -------------------------------------------------------------------------------------------------
def test_since_returns_the_calls_noted_after_the_mark_in_this_context() -> None:
    a, b = LLMUsage("gpt-4o", "openai", 10, output_tokens=1), LLMUsage("gpt-4o", "openai", 20, output_tokens=2)
    before = metering.mark()
    metering.note(a, "id-a")
    middle = metering.mark()
    metering.note(b, None, estimated=True)
    assert [c.call_id for c in metering.since(before)] == ["id-a", None]
    assert metering.since(middle) == (metering.MeteredCall(b, None, True),)
    assert metering.since(metering.mark()) == ()


async def test_a_copied_context_sees_earlier_calls_and_not_its_siblings() -> None:
    start = metering.mark()

    async def call(n: int) -> tuple[metering.MeteredCall, ...]:
        mark = metering.mark()
        metering.note(LLMUsage("gpt-4o", "openai", n), f"id-{n}")
        return metering.since(mark)

    first, second = await asyncio.gather(call(1), call(2))
    assert [c.call_id for c in first] == ["id-1"] and [c.call_id for c in second] == ["id-2"]
    assert metering.since(start) == ()  # the tasks' notes stay in their own contexts


def test_the_log_stays_bounded() -> None:
    ctx = contextvars.copy_context()

    def many() -> int:
        for i in range(1000):
            metering.note(LLMUsage("gpt-4o", None, i), None)
        return len(metering.since(None))

    assert ctx.run(many) <= 64


# -- calls without usage -----------------------------------------------------------------------------------------------
def test_a_response_without_usage_is_charged_an_estimate_and_warned_once(llm: LLMServer) -> None:
    import openai

    client = openai.OpenAI()
    llm.queue(_no_usage(chat_completion(id="c1", content="x" * 400)), _no_usage(chat_completion(id="c2")))
    with BudgetGuard(usd_limit=1.0) as guard:
        with pytest.warns(ActGuardWarning, match="reported no token usage"):
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert guard.usage.calls == 2
    assert guard.usage.output_tokens >= 100 and guard.usage.input_tokens > 0  # 400 characters answered: >= 100
    assert guard.usd_used > 0


def test_an_estimate_for_a_call_already_recorded_under_its_id_charges_nothing_and_warns_nothing() -> None:
    """A layer that could not see another layer's note (a stream consumed in another task) asks for an estimate of
    a call the guard already has: counted once, and no warning that it was not metered."""
    usage = LLMUsage("gpt-4o-mini", "openai", 100, output_tokens=20)
    with BudgetGuard(token_limit=10_000) as guard:
        guard.record(usage, call_id="chatcmpl-7")
        with warnings.catch_warnings():
            warnings.simplefilter("error", ActGuardWarning)
            charged = metering.charge_estimate(
                guard, usage._replace(input_tokens=5), reason="test", call_id="chatcmpl-7"
            )
        assert charged == 0.0
        assert guard.tokens_used == 120 and guard.usage.calls == 1
        assert guard.has_recorded("chatcmpl-7") and not guard.has_recorded("chatcmpl-8")


def test_strict_guard_refuses_a_call_it_could_not_meter(llm: LLMServer) -> None:
    import openai

    llm.queue(_no_usage(chat_completion(id="c1")))
    with (
        BudgetGuard(usd_limit=1.0, strict=True) as guard,
        pytest.warns(ActGuardWarning),
        pytest.raises(UnmeteredCallError, match="could not be metered"),
    ):
        openai.OpenAI().chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert guard.usage.calls == 1 and guard.tokens_used > 0  # charged, then refused


def test_a_stream_a_gateway_ends_without_usage_is_charged_an_estimate_and_warned(llm: LLMServer) -> None:
    import openai

    llm.queue(chat_stream(["Rome ", "was ", "founded."], usage=False))
    with BudgetGuard() as guard, pytest.warns(ActGuardWarning, match="without reporting token usage"):
        stream = openai.OpenAI().chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Rome was founded."
    assert guard.usage.calls == 1 and guard.usage.output_tokens == 5  # 17 characters streamed
    assert metering.since(None)[-1].estimated


def test_an_unrecognised_request_body_is_metered_from_its_response(llm: LLMServer) -> None:
    import openai

    llm.queue(chat_completion(id="c1", prompt_tokens=321, completion_tokens=9))
    with BudgetGuard() as guard:
        openai.OpenAI().post("/chat/completions", cast_to=openai.types.chat.ChatCompletion, body=["not", "a", "dict"])
    assert guard.usage.input_tokens == 321 and guard.usage.output_tokens == 9


# -- SDK patching -----------------------------------------------------------------------------------------------------
class Owner:
    def method(self) -> str:
        return "sdk"


def test_undo_restores_only_its_own_wrapper() -> None:
    patches = Patches()
    calls: list[str] = []

    def wrap(original: Any) -> Any:
        def metered(self: Any) -> str:
            if patches.active:
                calls.append("actguard")
            return str(original(self))

        return metered

    patches.patch(Owner, "method", wrap)
    ours = Owner.__dict__["method"]

    def theirs(self: Any) -> str:  # another library wraps on top (without functools.wraps)
        calls.append("theirs")
        return str(ours(self))

    Owner.method = theirs  # type: ignore[method-assign]
    patches.undo()
    assert Owner.__dict__["method"] is theirs  # not clobbered
    assert Owner().method() == "sdk" and calls == ["theirs"]  # actguard's part switched off
    patches.patch(Owner, "method", wrap)  # switched on again, not wrapped a second time
    assert Owner.__dict__["method"] is theirs
    calls.clear()
    assert Owner().method() == "sdk" and calls == ["theirs", "actguard"]
    Owner.method = ours.__actguard_original__  # type: ignore[attr-defined,method-assign]


def test_uninstall_removes_the_import_hook() -> None:
    providers.watch_imports()
    _import_hook.watch({"actguard_never_imported_sdk"}, lambda: None)
    assert any(isinstance(f, _import_hook._Finder) for f in sys.meta_path)
    try:
        providers.uninstall()
        assert not any(isinstance(f, _import_hook._Finder) for f in sys.meta_path)
    finally:
        providers.install()
        providers.watch_imports()


def test_an_sdk_too_old_or_of_another_shape_is_not_patched_and_says_so() -> None:
    with pytest.warns(ActGuardWarning, match=r"openai 1\.2\.0 are not metered .*>= 1\.40"):
        assert not _compat.supported("openai", "1.2.0", (1, 40), [])
    with pytest.warns(ActGuardWarning, match="request.* not found"):
        assert not _compat.supported("anthropic", "9.0.0", (0, 40), ["SyncAPIClient.request(...) not found"])
    assert _compat.supported("openai", "3.1.0rc1", (1, 40), [])
    assert _compat.has_params(lambda self, cast_to, options, x=1: None, ("self", "cast_to", "options"))
    assert not _compat.has_params(lambda self, options: None, ("self", "cast_to", "options"))


def test_installed_sdks_passed_the_check() -> None:
    assert {"openai", "anthropic", "google"} <= set(providers.install())


# -- every billed quantity, downstream ------------------------------------------------------------------------------
def test_details_reach_usage_by_model_and_events() -> None:
    from actguard.testing import capture_events

    usage = LLMUsage(
        "claude-sonnet-4-0", "anthropic", 11_000, 0, 10_000, 500, cache_write_1h_tokens=10_000, web_search_requests=3
    )
    with capture_events() as events, BudgetGuard() as guard:
        guard.record(usage)
        guard.record(usage)
    by_model = guard.usage_by_model["claude-sonnet-4-0"]
    assert (by_model.cache_write_1h_tokens, by_model.web_search_requests) == (20_000, 6)
    assert guard.usage.cache_write_1h_tokens == 20_000
    assert guard.usd_used == pytest.approx(2 * (0.0705 + 0.03))
    recorded = events.of(category="budget", name="llm_call", outcome="recorded")
    assert len(recorded) == 2
    assert recorded[0]["payload"]["cache_write_1h_tokens"] == 10_000
    assert recorded[0]["payload"]["web_search_requests"] == 3


def test_register_takes_every_rate_and_names_a_wrong_one() -> None:
    price = prices.register(
        "my-audio-model", input_per_mtok=1.0, output_per_mtok=2.0, input_audio_per_mtok=10.0, web_search_per_thousand=5
    )
    try:
        usage = LLMUsage("my-audio-model", None, 1_000_000, output_tokens=0, input_audio_tokens=500_000)
        assert price.cost(usage) == pytest.approx(0.5 + 5.0)
        assert prices.cost_of(LLMUsage("my-audio-model", web_search_requests=2)) == pytest.approx(0.01)
    finally:
        prices.unregister("my-audio-model")
    with pytest.raises(ConfigError, match=r"unknown rate.*audio_in_per_mtok.*accepted"):
        prices.register("x", input_per_mtok=1, output_per_mtok=1, audio_in_per_mtok=1)


def test_cli_prices_shows_the_1h_cache_rate_and_charges_it() -> None:
    out = subprocess.run(
        [
            *(sys.executable, "-m", "actguard", "prices", "claude-sonnet-4-0", "--input", "11000", "--output", "500"),
            *("--cache-write", "10000", "--cache-write-1h", "10000"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "1h cache write: $6 per million tokens" in out
    assert "cost:           $0.070500" in out


def test_legacy_completions_are_metered(llm: LLMServer) -> None:
    import openai

    body = {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1730000000,
        "model": "gpt-3.5-turbo-instruct",
        "choices": [{"index": 0, "text": "Rome.", "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100},
    }
    llm.queue(Reply(body))
    with BudgetGuard(usd_limit=1.0) as guard:
        openai.OpenAI().completions.create(model="gpt-3.5-turbo-instruct", prompt="Rome?")
    assert (guard.usage.input_tokens, guard.usage.output_tokens) == (1000, 100)
    assert guard.usd_used == pytest.approx(
        prices.cost_of(LLMUsage("gpt-3.5-turbo-instruct", "openai", 1000, 0, 0, 100))
    )


def test_with_streaming_response_is_metered_when_parsed(llm: LLMServer) -> None:
    """``with_streaming_response`` hands back the raw response: the call is metered when its body is parsed."""
    import openai

    client = openai.OpenAI()
    llm.queue(chat_completion(id="c1", prompt_tokens=100, completion_tokens=10))
    llm.queue(chat_stream(["Ro", "me"], id="c2", prompt_tokens=200, completion_tokens=20))
    with BudgetGuard() as guard:
        with client.chat.completions.with_streaming_response.create(model="gpt-4o", messages=MESSAGES) as raw:  # type: ignore[arg-type]
            assert raw.parse().choices[0].message.content
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
        ) as raw:
            assert "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices) == "Rome"
    assert guard.usage.calls == 2
    assert (guard.usage.input_tokens, guard.usage.output_tokens) == (300, 30)
