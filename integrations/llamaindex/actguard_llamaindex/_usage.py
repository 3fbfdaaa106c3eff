"""Read usage, model name and call id from a LlamaIndex ``ChatResponse`` / ``CompletionResponse``.

LlamaIndex keeps the provider's own response in ``response.raw`` (an SDK object or a dict) and, for OpenAI-style
LLMs, the token counts in ``response.additional_kwargs`` too. The raw usage is preferred: it carries the cached
and reasoning details. Both are read by the core parser (:mod:`actguard.budget.usage_parsing`). A streamed response
is read from its last chunk (where OpenAI reports usage).
"""

from __future__ import annotations

import functools
from typing import Any

from actguard import LLMUsage
from actguard.budget.usage_parsing import field, parse_usage

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


def _str(obj: Any, key: str) -> str | None:
    value = field(obj, key)
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
    raw = getattr(response, "raw", None)
    usage = field(raw, "usage")
    if usage is None:
        usage = field(raw, "usage_metadata")  # Google GenAI
    parsed = parse_usage(usage, model, provider) if usage is not None else None
    if parsed is not None:
        return parsed
    return parse_usage(getattr(response, "additional_kwargs", None), model, provider)
