"""Read what one model call used from pydantic-ai's ``ModelResponse``, and which model and provider it was."""

from __future__ import annotations

from typing import Any

from actguard import LLMUsage

__all__ = ["price_provider", "texts", "usage_of"]

# pydantic-ai's own offline models: no provider to price them by (the model name alone decides).
_NO_PROVIDER = frozenset({"function", "test"})


def price_provider(system: str | None) -> str | None:
    """The provider to price a model by, from pydantic-ai's ``Model.system`` / ``ModelResponse.provider_name``."""
    if not system or system in _NO_PROVIDER:
        return None
    if system.startswith("google"):  # google-gla, google-vertex
        return "google"
    return system


def usage_of(response: Any, model: str | None, provider: str | None) -> LLMUsage:
    """The call's usage from ``response.usage`` (pydantic-ai's ``RequestUsage``), as actguard counts it.

    pydantic-ai already normalises providers: its ``input_tokens`` include cache reads and writes (as actguard's
    do) and its ``output_tokens`` include reasoning, reported in ``details["reasoning_tokens"]``. The model and
    provider are the response's own when it reports them, else ``model`` / ``provider`` (the run's model).
    """
    usage = response.usage
    details = getattr(usage, "details", None) or {}
    reasoning = details.get("reasoning_tokens", 0)
    return LLMUsage(
        model=getattr(response, "model_name", None) or model or "unknown",
        provider=price_provider(getattr(response, "provider_name", None)) or provider,
        input_tokens=usage.input_tokens,
        cached_input_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        output_tokens=usage.output_tokens,
        reasoning_tokens=reasoning if type(reasoning) is int else 0,
        input_audio_tokens=usage.input_audio_tokens,
        cached_audio_input_tokens=usage.cache_audio_read_tokens,
        output_audio_tokens=usage.output_audio_tokens,
    )


def texts(messages: Any) -> list[Any]:
    """The text of pydantic-ai messages (their parts' content and tool-call arguments), to estimate tokens from."""
    found: list[Any] = []
    for message in messages:
        for part in getattr(message, "parts", None) or ():
            for name in ("content", "args"):
                value = getattr(part, name, None)
                if isinstance(value, (str, dict, list)):
                    found.append(value)
    return found
