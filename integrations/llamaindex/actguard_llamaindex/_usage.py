"""Read usage, model name and call id from a LlamaIndex ``ChatResponse`` / ``CompletionResponse``.

LlamaIndex keeps the provider's own response in ``response.raw`` (an SDK object or a dict) and, for OpenAI-style
LLMs, the token counts in ``response.additional_kwargs`` too. The raw usage is preferred: it carries the cached
and reasoning details. A streamed response is read from its last chunk (where OpenAI reports usage).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from actguard import LLMUsage

__all__ = ["call_id_of", "model_of", "provider_of", "usage_of"]

# Substrings of a LlamaIndex LLM's ``class_name()`` -> genai-prices provider ids (else the price lookup guesses).
_PROVIDERS = (
    ("azure", "azure"),
    ("openai", "openai"),
    ("anthropic", "anthropic"),
    ("gemini", "google"),
    ("google", "google"),
    ("vertex", "google"),
    ("bedrock", "aws"),
    ("mistral", "mistral"),
    ("groq", "groq"),
    ("deepseek", "deepseek"),
    ("cohere", "cohere"),
)


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if type(obj) is dict:  # the common case, without the slower ABC check
        return obj.get(key)
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _int(obj: Any, key: str) -> int:
    value = _get(obj, key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str(obj: Any, key: str) -> str | None:
    value = _get(obj, key)
    return value if isinstance(value, str) and value else None


@functools.lru_cache(maxsize=256)
def _provider_of_name(lowered: str) -> str | None:
    return next((provider for part, provider in _PROVIDERS if part in lowered), None)


def provider_of(class_name: Any) -> str | None:
    """The price provider for a LlamaIndex LLM ``class_name`` (``"openai_llm"`` -> ``"openai"``), or None."""
    if not isinstance(class_name, str):
        return None
    return _provider_of_name(class_name.lower())


def model_of(response: Any, fallback: str | None) -> str:
    """The model name as the provider's response reports it, else the LLM's configured model, else ``"unknown"``."""
    return _str(getattr(response, "raw", None), "model") or fallback or "unknown"


def call_id_of(response: Any) -> str | None:
    """The provider's response id (what actguard's SDK meters record a call under), or None."""
    return _str(getattr(response, "raw", None), "id")


def usage_of(response: Any, model: str, provider: str | None) -> LLMUsage | None:
    """Normalise the usage of one response (input incl. cached, output incl. reasoning), or None without any."""
    usage = _get(getattr(response, "raw", None), "usage")
    if usage is not None and (_int(usage, "prompt_tokens") or _int(usage, "input_tokens")):
        return _from_provider_usage(usage, model, provider)
    counts = getattr(response, "additional_kwargs", None)
    prompt = _int(counts, "prompt_tokens") or _int(counts, "input_tokens")
    completion = _int(counts, "completion_tokens") or _int(counts, "output_tokens")
    if not prompt and not completion:
        return None
    return LLMUsage(model=model, provider=provider, input_tokens=prompt, output_tokens=completion)


def _from_provider_usage(usage: Any, model: str, provider: str | None) -> LLMUsage:
    if _get(usage, "prompt_tokens") is not None:  # OpenAI chat completions (and OpenAI-compatible APIs)
        return LLMUsage(
            model=model,
            provider=provider,
            input_tokens=_int(usage, "prompt_tokens"),
            cached_input_tokens=_int(_get(usage, "prompt_tokens_details"), "cached_tokens"),
            output_tokens=_int(usage, "completion_tokens"),
            reasoning_tokens=_int(_get(usage, "completion_tokens_details"), "reasoning_tokens"),
        )
    cache_read = _int(usage, "cache_read_input_tokens")
    cache_write = _int(usage, "cache_creation_input_tokens")
    if cache_read or cache_write or provider == "anthropic":  # Anthropic counts cache reads/writes apart
        return LLMUsage(
            model=model,
            provider=provider,
            input_tokens=_int(usage, "input_tokens") + cache_read + cache_write,
            cached_input_tokens=cache_read,
            cache_write_tokens=cache_write,
            output_tokens=_int(usage, "output_tokens"),
        )
    return LLMUsage(  # OpenAI Responses API
        model=model,
        provider=provider,
        input_tokens=_int(usage, "input_tokens"),
        cached_input_tokens=_int(_get(usage, "input_tokens_details"), "cached_tokens"),
        output_tokens=_int(usage, "output_tokens"),
        reasoning_tokens=_int(_get(usage, "output_tokens_details"), "reasoning_tokens"),
    )
