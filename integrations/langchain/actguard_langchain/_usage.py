"""Read usage, model name and call id from what LangChain reports about one model call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actguard import LLMUsage
from actguard.budget.usage_parsing import count, parse_usage

__all__ = ["call_id_of", "model_of", "provider_of", "usage_from_message", "usage_from_llm_output"]

# LangChain's ``ls_provider`` names -> genai-prices provider ids (unknown names: let the price lookup guess).
_PROVIDERS = {
    "openai": "openai",
    "azure": "azure",
    "anthropic": "anthropic",
    "google_genai": "google",
    "google_vertexai": "google",
    "google_anthropic_vertex": "anthropic",
    "bedrock": "aws",
    "amazon_bedrock": "aws",
    "mistral": "mistral",
    "mistralai": "mistral",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x-ai",
    "fireworks": "fireworks",
    "together": "together",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "openrouter": "openrouter",
}


def provider_of(ls_provider: Any) -> str | None:
    """The price provider for a LangChain ``ls_provider`` name, or None to let the price lookup guess."""
    return _PROVIDERS.get(ls_provider) if isinstance(ls_provider, str) else None


def model_of(message: Any, llm_output: Mapping[str, Any] | None, fallback: str | None) -> str:
    """The model name as the response reports it, else the run's ``ls_model_name``, else ``"unknown"``."""
    metadata = getattr(message, "response_metadata", None) or {}
    for source in (metadata, llm_output or {}):
        for key in ("model_name", "model"):
            value = source.get(key)
            if isinstance(value, str) and value:
                return value
    return fallback or "unknown"


def call_id_of(message: Any) -> str | None:
    """The provider's response id of a model call (what the SDK meters record with), else the message id."""
    metadata = getattr(message, "response_metadata", None) or {}
    value = metadata.get("id")
    if isinstance(value, str) and value:
        return value
    value = getattr(message, "id", None)
    return value if isinstance(value, str) and value else None


def usage_from_message(message: Any, model: str, provider: str | None) -> LLMUsage | None:
    """Normalise an ``AIMessage.usage_metadata`` (LangChain's own shape: input incl. cached, output incl.
    reasoning), or None without one."""
    usage = getattr(message, "usage_metadata", None)
    if not usage:
        return None
    details_in = usage.get("input_token_details")
    details_out = usage.get("output_token_details")
    return LLMUsage(
        model=model,
        provider=provider,
        input_tokens=count(usage, "input_tokens"),
        cached_input_tokens=count(details_in, "cache_read"),
        cache_write_tokens=count(details_in, "cache_creation"),
        output_tokens=count(usage, "output_tokens"),
        reasoning_tokens=count(details_out, "reasoning"),
        cache_write_1h_tokens=count(details_in, "ephemeral_1h_input_tokens"),
        input_audio_tokens=count(details_in, "audio"),
        output_audio_tokens=count(details_out, "audio"),
    )


def usage_from_llm_output(llm_output: Mapping[str, Any] | None, model: str, provider: str | None) -> LLMUsage | None:
    """Usage of a completion-style LLM from ``LLMResult.llm_output["token_usage"]`` (the provider's own usage)."""
    if not llm_output:
        return None
    usage = llm_output.get("token_usage") or llm_output.get("usage")
    if not isinstance(usage, Mapping) or not usage:
        return None
    return parse_usage(usage, model, provider)
