"""Metering of the Anthropic SDK: messages create and stream (``messages.stream()`` too), sync and async.

Anthropic reports ``input_tokens`` without the cache: the metered usage adds ``cache_read_input_tokens`` and
``cache_creation_input_tokens`` to it (actguard's input_tokens include cached ones), and each is priced at its own
rate. A stream's usage comes from ``message_start`` (input and cache tokens) and ``message_delta`` (output tokens so
far, and input counts when the API repeats them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actguard.budget._meter import CallInfo, StreamMeter, pick_model
from actguard.budget._usage import LLMUsage
from actguard.budget.providers._patch import Patches
from actguard.budget.providers._stainless import Endpoint, install_sdk

__all__ = ["install", "uninstall"]

_patches = Patches()
_PROVIDER = "anthropic"


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _info(body: Mapping[str, Any]) -> CallInfo:
    max_tokens = body.get("max_tokens")
    max_out = max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else None
    return CallInfo(
        _PROVIDER, body.get("model"), (body.get("messages"), body.get("system"), body.get("tools")), max_out
    )


def _input_counts(usage: Any) -> tuple[int, int, int]:
    """(fresh input, cache read, cache write) tokens."""
    return (
        _int(getattr(usage, "input_tokens", 0)),
        _int(getattr(usage, "cache_read_input_tokens", 0)),
        _int(getattr(usage, "cache_creation_input_tokens", 0)),
    )


def _usage(model: str, counts: tuple[int, int, int], output: int) -> LLMUsage:
    fresh, read, written = counts
    return LLMUsage(model, _PROVIDER, fresh + read + written, read, written, output, 0)


def _result(response: Any, info: CallInfo) -> tuple[LLMUsage | None, str | None]:
    usage = getattr(response, "usage", None)
    if usage is None:
        return None, None
    model = pick_model(getattr(response, "model", None), info.model, _PROVIDER)
    return _usage(model, _input_counts(usage), _int(getattr(usage, "output_tokens", 0))), getattr(response, "id", None)


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
        counts = _input_counts(getattr(message, "usage", None))
        meter.extra = counts
        meter.input_tokens = sum(counts)
    elif kind == "message_delta":
        usage = getattr(event, "usage", None)
        if usage is not None:
            start: tuple[int, int, int] = meter.extra or (0, 0, 0)
            repeated = (
                getattr(usage, "input_tokens", None),
                getattr(usage, "cache_read_input_tokens", None),
                getattr(usage, "cache_creation_input_tokens", None),
            )
            fresh, read, written = (_int(r) if r is not None else s for r, s in zip(repeated, start, strict=True))
            counts = (fresh, read, written)
            meter.set_final(_usage(meter.model, counts, _int(getattr(usage, "output_tokens", 0))))
    return True


_ENDPOINT = Endpoint(_info, _result, _event)
_ENDPOINTS = {"/v1/messages": _ENDPOINT, "/v1/messages?beta=true": _ENDPOINT}


def install() -> bool:
    """Meter every Anthropic client (existing and future) inside a BudgetGuard. Idempotent; False without the SDK."""
    return install_sdk("anthropic", _ENDPOINTS, _patches)


def uninstall() -> None:
    """Put the SDK's methods back."""
    _patches.undo()
