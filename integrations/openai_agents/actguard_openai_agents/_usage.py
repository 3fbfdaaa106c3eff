"""Read what one model call used from the SDK's ``ModelResponse``, and which model it was."""

from __future__ import annotations

from typing import Any

from agents import OpenAIChatCompletionsModel, OpenAIResponsesModel
from agents.models import get_default_model
from agents.models.fake_id import FAKE_RESPONSES_ID

from actguard import LLMUsage

__all__ = ["call_id_of", "metered_by_sdk", "model_name", "split_model", "usage_of"]

_ROUTING_PREFIXES = ("openai/", "litellm/", "any-llm/")  # MultiProvider prefixes: not part of the model's name


def model_name(override: Any, agent: Any) -> str:
    """The model a call of ``agent`` uses: ``override`` (the run config's model) wins, then the agent's, then the
    SDK default. Each may be a model name or a ``Model`` instance (whose ``model`` attribute names it)."""
    for candidate in (override, getattr(agent, "model", None)):
        if isinstance(candidate, str) and candidate:
            return candidate
        name = getattr(candidate, "model", None)
        if isinstance(name, str) and name:
            return name
    return get_default_model()


def metered_by_sdk(override: Any, agent: Any) -> bool:
    """Whether the agent's calls go through the OpenAI client, which actguard's SDK meter charges by itself.

    True for ``OpenAIResponsesModel`` / ``OpenAIChatCompletionsModel`` and for model names the SDK's default
    provider serves (no prefix, or ``openai/``); False for other ``Model`` s and prefixed names (``litellm/...``).
    """
    for candidate in (override, getattr(agent, "model", None)):
        if isinstance(candidate, str) and candidate:
            return "/" not in candidate or candidate.startswith("openai/")
        if candidate is not None:
            return isinstance(candidate, (OpenAIResponsesModel, OpenAIChatCompletionsModel))
    return True  # the SDK default model, on the OpenAI client


def split_model(model: str) -> tuple[str, str | None]:
    """The model's name and provider: ``"litellm/anthropic/claude-x"`` -> ``("claude-x", "anthropic")``."""
    for prefix in _ROUTING_PREFIXES:
        if model.startswith(prefix):
            model = model[len(prefix) :]
            break
    if "/" in model:
        provider, _, name = model.partition("/")
        return name, provider
    return model, None


def _int(obj: Any, name: str) -> int:
    # Fields of pydantic models and dataclasses live in __dict__: a dict lookup, not pydantic's __getattr__ (which
    # raises for a field this SDK release lacks, e.g. cache_write_tokens before openai 3).
    fields = obj if isinstance(obj, dict) else getattr(obj, "__dict__", None)
    value = fields.get(name, 0) if fields is not None else getattr(obj, name, 0)
    return value if type(value) is int else 0


def usage_of(response: Any, model: str) -> LLMUsage:
    """The call's usage: input (cached included), cached input, cache writes, output (reasoning included)."""
    usage = getattr(response, "usage", None)
    in_details = getattr(usage, "input_tokens_details", None)
    out_details = getattr(usage, "output_tokens_details", None)
    name, provider = split_model(model)
    return LLMUsage(
        model=name,
        provider=provider,
        input_tokens=_int(usage, "input_tokens"),
        cached_input_tokens=_int(in_details, "cached_tokens"),
        cache_write_tokens=_int(in_details, "cache_write_tokens"),
        output_tokens=_int(usage, "output_tokens"),
        reasoning_tokens=_int(out_details, "reasoning_tokens"),
    )


def call_id_of(response: Any) -> str | None:
    """The provider's id for the call, the one actguard's SDK meter records it under.

    The Responses API model reports it as ``response_id``; the Chat Completions model (openai-agents >= 0.7)
    keeps the completion id in its output items' ``provider_data``. A streamed Chat Completions response carries
    the SDK's placeholder id (``__fake_id__``), which is no id at all.
    """
    response_id = getattr(response, "response_id", None)
    if isinstance(response_id, str) and response_id and response_id != FAKE_RESPONSES_ID:
        return response_id
    for item in getattr(response, "output", None) or ():
        data = getattr(item, "provider_data", None)
        if data is None and isinstance(item, dict):
            data = item.get("provider_data")
        if isinstance(data, dict) and isinstance(data.get("response_id"), str):
            return str(data["response_id"])
    return None
