"""Metering of the OpenAI SDK: chat completions, responses and embeddings; sync, async and streaming.

Streamed chat completions get ``stream_options={"include_usage": True}`` added (any other stream_options the caller
passed are kept) so the final chunk reports usage; when actguard added it, that usage-only chunk (which has no
choices) is consumed here and not shown to the caller, so code written without it keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actguard.budget._meter import CallInfo, StreamMeter, pick_model
from actguard.budget._usage import LLMUsage
from actguard.budget.providers._patch import Patches
from actguard.budget.providers._stainless import Endpoint, install_sdk
from actguard.budget.usage_parsing import count, openai_chat_usage, openai_responses_usage

__all__ = ["install", "uninstall"]

_patches = Patches()
_PROVIDER = "openai"


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# -- chat completions ------------------------------------------------------------------------------------------
def _chat_info(body: Mapping[str, Any]) -> CallInfo:
    max_out = _opt_int(body.get("max_completion_tokens")) or _opt_int(body.get("max_tokens"))
    return CallInfo(_PROVIDER, body.get("model"), (body.get("messages"), body.get("tools")), max_out)


def _chat_result(response: Any, info: CallInfo) -> tuple[LLMUsage | None, str | None]:
    usage = getattr(response, "usage", None)
    if usage is None:
        return None, None
    model = pick_model(getattr(response, "model", None), info.model, _PROVIDER)
    return openai_chat_usage(usage, model), getattr(response, "id", None)


def _chat_prepare(body: Mapping[str, Any], meter: StreamMeter) -> Mapping[str, Any]:
    options = body.get("stream_options")
    if isinstance(options, Mapping) and options.get("include_usage"):
        return body
    meter.hide_usage_chunk = True
    return {**body, "stream_options": {**(options if isinstance(options, Mapping) else {}), "include_usage": True}}


def _chat_event(meter: StreamMeter, chunk: Any) -> bool:
    if meter.call_id is None:
        meter.call_id = getattr(chunk, "id", None) or None
        model = getattr(chunk, "model", None)
        if model:
            meter.model = pick_model(model, meter.info.model, _PROVIDER)
    choices = getattr(chunk, "choices", None) or ()
    for choice in choices:
        delta = getattr(choice, "delta", None)
        if delta is None:
            continue
        for text in (getattr(delta, "content", None), getattr(delta, "refusal", None)):
            if isinstance(text, str):
                meter.chars += len(text)
        for call in getattr(delta, "tool_calls", None) or ():
            arguments = getattr(getattr(call, "function", None), "arguments", None)
            if isinstance(arguments, str):
                meter.chars += len(arguments)
    usage = getattr(chunk, "usage", None)
    if usage is not None:
        meter.set_final(openai_chat_usage(usage, meter.model))
        if not choices and meter.hide_usage_chunk:
            return False
    return True


# -- responses -------------------------------------------------------------------------------------------------
def _responses_info(body: Mapping[str, Any]) -> CallInfo:
    prompt = (body.get("input"), body.get("instructions"), body.get("tools"))
    return CallInfo(_PROVIDER, body.get("model"), prompt, _opt_int(body.get("max_output_tokens")))


def _responses_result(response: Any, info: CallInfo) -> tuple[LLMUsage | None, str | None]:
    usage = getattr(response, "usage", None)
    if usage is None:
        return None, None
    model = pick_model(getattr(response, "model", None), info.model, _PROVIDER)
    return openai_responses_usage(usage, model), getattr(response, "id", None)


_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def _responses_event(meter: StreamMeter, event: Any) -> bool:
    kind = getattr(event, "type", "")
    if kind.endswith(".delta"):
        delta = getattr(event, "delta", None)
        if isinstance(delta, str):
            meter.chars += len(delta)
        return True
    response = getattr(event, "response", None)
    if response is None:
        return True
    if meter.call_id is None:
        meter.call_id = getattr(response, "id", None) or None
    model = getattr(response, "model", None)
    if model:
        meter.model = pick_model(model, meter.info.model, _PROVIDER)
    if kind in _FINAL_EVENTS:
        usage = getattr(response, "usage", None)
        if usage is not None:
            meter.set_final(openai_responses_usage(usage, meter.model))
    return True


# -- embeddings ------------------------------------------------------------------------------------------------
def _embeddings_info(body: Mapping[str, Any]) -> CallInfo:
    return CallInfo(_PROVIDER, body.get("model"), body.get("input"), 0)


def _embeddings_result(response: Any, info: CallInfo) -> tuple[LLMUsage | None, str | None]:
    usage = getattr(response, "usage", None)
    if usage is None:
        return None, None
    model = pick_model(getattr(response, "model", None), info.model, _PROVIDER)
    return LLMUsage(model, _PROVIDER, count(usage, "prompt_tokens")), None


def _no_stream(meter: StreamMeter, event: Any) -> bool:
    return True


_ENDPOINTS = {
    "/chat/completions": Endpoint(_chat_info, _chat_result, _chat_event, _chat_prepare),
    "/responses": Endpoint(_responses_info, _responses_result, _responses_event),
    "/embeddings": Endpoint(_embeddings_info, _embeddings_result, _no_stream),
}


def install() -> bool:
    """Meter every OpenAI client (existing and future) inside a BudgetGuard. Idempotent; False without the SDK."""
    return install_sdk("openai", _ENDPOINTS, _patches, floor=(1, 40))


def uninstall() -> None:
    """Put the SDK's methods back."""
    _patches.undo()
