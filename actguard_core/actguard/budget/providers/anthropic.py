"""Metering of the Anthropic SDK: messages create and stream (``messages.stream()`` too), sync and async.

Usage is read by :func:`actguard.budget.usage_parsing.anthropic_usage` (cache reads and writes added to the input,
1-hour cache writes and web searches kept apart). A stream's usage comes from ``message_start`` (input and cache
tokens) and ``message_delta`` (output tokens so far, and input counts when the API repeats them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actguard.budget._meter import CallInfo, StreamMeter, pick_model
from actguard.budget._usage import LLMUsage
from actguard.budget.providers._patch import Patches
from actguard.budget.providers._stainless import Endpoint, install_sdk
from actguard.budget.usage_parsing import anthropic_usage

__all__ = ["install", "uninstall"]

_patches = Patches()
_PROVIDER = "anthropic"


def _info(body: Mapping[str, Any]) -> CallInfo:
    max_tokens = body.get("max_tokens")
    max_out = max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else None
    return CallInfo(
        _PROVIDER, body.get("model"), (body.get("messages"), body.get("system"), body.get("tools")), max_out
    )


def _result(response: Any, info: CallInfo) -> tuple[LLMUsage | None, str | None]:
    usage = getattr(response, "usage", None)
    if usage is None:
        return None, None
    model = pick_model(getattr(response, "model", None), info.model, _PROVIDER)
    return anthropic_usage(usage, model), getattr(response, "id", None)


def _event(meter: StreamMeter, event: Any) -> bool:
    kind = getattr(event, "type", "")
    if kind == "content_block_delta":
        delta = getattr(event, "delta", None)
        for attr in ("text", "thinking", "partial_json"):
            value = getattr(delta, attr, None)
            if isinstance(value, str):
                meter.chars += len(value)
    elif kind == "message_start":
        message = getattr(event, "message", None)
        meter.call_id = getattr(message, "id", None) or None
        model = getattr(message, "model", None)
        if model:
            meter.model = pick_model(model, meter.info.model, _PROVIDER)
        start = getattr(message, "usage", None)
        meter.extra = start
        meter.input_tokens = anthropic_usage(start, meter.model).input_tokens
    elif kind == "message_delta":
        usage = getattr(event, "usage", None)
        if usage is not None:  # counts so far; the input counts only when the API repeats them
            meter.set_final(anthropic_usage(usage, meter.model, start=meter.extra))
    return True


_ENDPOINT = Endpoint(_info, _result, _event)
_ENDPOINTS = {"/v1/messages": _ENDPOINT, "/v1/messages?beta=true": _ENDPOINT}


def install() -> bool:
    """Meter every Anthropic client (existing and future) inside a BudgetGuard. Idempotent; False without the SDK."""
    return install_sdk("anthropic", _ENDPOINTS, _patches, floor=(0, 40))


def uninstall() -> None:
    """Put the SDK's methods back."""
    _patches.undo()
