"""Metering of the Google GenAI SDK (``google-genai``): generate_content and its stream, sync and async.

The hook sits on ``Models._generate_content`` / ``_generate_content_stream`` (and the ``AsyncModels`` twins): each is
exactly one API request, while the public ``generate_content`` may send several (automatic function calling,
automatic continuation), each of which is metered. Usage comes from ``usage_metadata``: input is
``prompt_token_count`` (cached content included) plus ``tool_use_prompt_token_count``; output is
``candidates_token_count`` plus ``thoughts_token_count`` (thinking tokens are billed as output).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actguard.budget._guard import _current
from actguard.budget._meter import (
    CallInfo,
    StreamMeter,
    abefore_call,
    arecord_result,
    before_call,
    meter_async_iterator,
    meter_iterator,
    pick_model,
    record_result,
)
from actguard.budget._usage import LLMUsage
from actguard.budget.providers._compat import supported
from actguard.budget.providers._patch import Patches
from actguard.budget.usage_parsing import google_usage

__all__ = ["install", "uninstall"]

_patches = Patches()
_PROVIDER = "google"


def _info(kwargs: Mapping[str, Any]) -> CallInfo:
    config = kwargs.get("config")
    if isinstance(config, Mapping):
        max_out, system = config.get("max_output_tokens"), config.get("system_instruction")
    else:
        max_out, system = getattr(config, "max_output_tokens", None), getattr(config, "system_instruction", None)
    max_out = max_out if isinstance(max_out, int) and not isinstance(max_out, bool) else None
    model = kwargs.get("model")
    return CallInfo(_PROVIDER, model if isinstance(model, str) else None, (kwargs.get("contents"), system), max_out)


def _result(response: Any, info: CallInfo) -> tuple[LLMUsage | None, str | None]:
    meta = getattr(response, "usage_metadata", None)
    if meta is None:
        return None, None
    model = pick_model(getattr(response, "model_version", None), info.model, _PROVIDER)
    return google_usage(meta, model), getattr(response, "response_id", None)


def _event(meter: StreamMeter, chunk: Any) -> bool:
    if meter.call_id is None:
        meter.call_id = getattr(chunk, "response_id", None) or None
    version = getattr(chunk, "model_version", None)
    if version and meter.model != version:
        meter.model = pick_model(version, meter.info.model, _PROVIDER)
    for candidate in getattr(chunk, "candidates", None) or ():
        for part in getattr(getattr(candidate, "content", None), "parts", None) or ():
            text = getattr(part, "text", None)
            if isinstance(text, str):
                meter.chars += len(text)
    meta = getattr(chunk, "usage_metadata", None)
    if meta is not None:  # cumulative: the last one covers the whole call
        meter.set_final(google_usage(meta, meter.model))
    return True


def _sync_call(original: Any) -> Any:
    def _generate_content(self: Any, *args: Any, **kwargs: Any) -> Any:
        guard = _current.get()
        if guard is None or not _patches.active:
            return original(self, *args, **kwargs)
        info = _info(kwargs)
        before_call(guard, info)
        response = original(self, *args, **kwargs)
        usage, call_id = _result(response, info)
        record_result(guard, usage, call_id, response, info)
        return response

    return _generate_content


def _async_call(original: Any) -> Any:
    async def _generate_content(self: Any, *args: Any, **kwargs: Any) -> Any:
        guard = _current.get()
        if guard is None or not _patches.active:
            return await original(self, *args, **kwargs)
        info = _info(kwargs)
        await abefore_call(guard, info)
        response = await original(self, *args, **kwargs)
        usage, call_id = _result(response, info)
        await arecord_result(guard, usage, call_id, response, info)
        return response

    return _generate_content


def _noop() -> None:
    return None


async def _anoop() -> None:
    return None


def _sync_stream(original: Any) -> Any:
    def _generate_content_stream(self: Any, *args: Any, **kwargs: Any) -> Any:
        guard = _current.get()
        if guard is None or not _patches.active:
            return original(self, *args, **kwargs)
        info = _info(kwargs)
        before_call(guard, info)
        inner = original(self, *args, **kwargs)
        return meter_iterator(iter(inner), StreamMeter(guard, info), _event, getattr(inner, "close", _noop))

    return _generate_content_stream


def _async_stream(original: Any) -> Any:
    async def _generate_content_stream(self: Any, *args: Any, **kwargs: Any) -> Any:
        guard = _current.get()
        if guard is None or not _patches.active:
            return await original(self, *args, **kwargs)
        info = _info(kwargs)
        await abefore_call(guard, info)
        inner = await original(self, *args, **kwargs)
        stop = getattr(inner, "aclose", _anoop)
        return meter_async_iterator(inner.__aiter__(), StreamMeter(guard, info), _event, stop)

    return _generate_content_stream


def install() -> bool:
    """Meter every google-genai client (existing and future) inside a BudgetGuard. Idempotent; False without it."""
    try:
        from google.genai import models
    except ImportError:
        return False
    if not _patches:
        problems = [
            f"google.genai.models.{cls}.{name} not found"
            for cls in ("Models", "AsyncModels")
            for name in ("_generate_content", "_generate_content_stream")
            if not callable(getattr(getattr(models, cls, None), name, None))
        ]
        if not supported("google-genai", _version(), (1, 0), problems):
            return False
    _patches.patch(models.Models, "_generate_content", _sync_call)
    _patches.patch(models.Models, "_generate_content_stream", _sync_stream)
    _patches.patch(models.AsyncModels, "_generate_content", _async_call)
    _patches.patch(models.AsyncModels, "_generate_content_stream", _async_stream)
    return True


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("google-genai")
    except Exception:  # metadata missing (a vendored copy): the module's own attribute, if any
        import google.genai

        return str(getattr(google.genai, "__version__", "0"))


def uninstall() -> None:
    """Put the SDK's methods back."""
    _patches.undo()
