"""Read what one model call used from the SDK's ``ModelResponse``, and which model it was."""

from __future__ import annotations

from typing import Any

from agents.models import get_default_model
from agents.models.fake_id import FAKE_RESPONSES_ID

from actguard import LLMUsage
from actguard.budget.usage_parsing import openai_responses_usage

__all__ = ["call_id_of", "model_name", "split_model", "usage_of"]

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


def usage_of(response: Any, model: str) -> LLMUsage:
    """The call's usage (the SDK reports it in the Responses API's shape, whichever API the model used)."""
    name, provider = split_model(model)
    return openai_responses_usage(getattr(response, "usage", None), name, provider)


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
