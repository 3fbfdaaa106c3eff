"""Provider usage -> :class:`LLMUsage`: the one place that reads OpenAI, Anthropic and Google usage.

The SDK meters and every framework adapter call these, so a count is read, and a provider's convention applied,
the same way wherever a call is seen. Each function takes the usage as the provider's JSON (a dict, camelCase or
snake_case for Google) or as an SDK object (pydantic models, dataclasses), including SDK releases that keep fields
they do not model as a raw dict. A missing or non-integer count reads as 0.

What each provider bills apart, and where it is read (the fields genai-prices' extractors read too):

- OpenAI Chat Completions (``usage``): ``prompt_tokens`` (cached included), ``prompt_tokens_details.cached_tokens``
  / ``cache_write_tokens`` / ``audio_tokens``, ``completion_tokens`` (reasoning included),
  ``completion_tokens_details.reasoning_tokens`` / ``audio_tokens``.
- OpenAI Responses (``usage``): ``input_tokens``, ``input_tokens_details.cached_tokens`` / ``cache_write_tokens``,
  ``output_tokens``, ``output_tokens_details.reasoning_tokens``.
- Anthropic Messages (``usage``): ``input_tokens`` excludes the cache, so cache reads and writes are added to it;
  ``cache_creation.ephemeral_1h_input_tokens`` (1-hour writes, billed at their own rate);
  ``server_tool_use.web_search_requests``; ``output_tokens_details.thinking_tokens``.
- Google GenAI (``usage_metadata``): ``prompt_token_count`` plus ``tool_use_prompt_token_count`` is the input;
  ``cached_content_token_count``; ``candidates_token_count`` plus ``thoughts_token_count`` is the output; the
  per-modality details (``prompt_tokens_details``, ``cache_tokens_details``, ``candidates_tokens_details``,
  ``tool_use_prompt_tokens_details``) give audio, image (documents count as images) and video tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actguard.budget._usage import BILLED_DETAILS, LLMUsage

__all__ = [
    "anthropic_usage",
    "count",
    "field",
    "fields",
    "google_usage",
    "openai_chat_usage",
    "openai_responses_usage",
    "parse_usage",
]


_EMPTY: Mapping[str, Any] = {}
_new = tuple.__new__  # builds an LLMUsage from all its fields, skipping NamedTuple's keyword handling (hot path)
_NONE = (0,) * len(BILLED_DETAILS)
_is_mapping: dict[type, bool] = {}  # isinstance(x, Mapping) by type: an ABC check costs more than a dict lookup


class _Attributes:
    """``get`` over an object's attributes (objects that keep their fields in neither a dict nor ``__dict__``)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self.obj, key, default)


def fields(obj: Any) -> Mapping[str, Any] | _Attributes:
    """A read-only view of ``obj``'s fields with ``.get(key)``: the mapping itself, or a pydantic model's /
    dataclass's fields (``__dict__``, plus the extra fields SDKs keep for keys they do not model). Reading a
    field this way skips pydantic's ``__getattr__``, which raises (slowly) for a field a release lacks."""
    if obj is None:
        return _EMPTY
    kind = type(obj)
    if kind is dict:
        return obj  # type: ignore[no-any-return]
    mapping = _is_mapping.get(kind)
    if mapping is None:
        mapping = _is_mapping[kind] = isinstance(obj, Mapping)
    if mapping:
        return obj  # type: ignore[no-any-return]
    own = getattr(obj, "__dict__", None)
    if own is None:
        return _Attributes(obj)
    extra = getattr(obj, "__pydantic_extra__", None)
    return {**own, **extra} if extra else own  # type: ignore[no-any-return]


def field(obj: Any, key: str) -> Any:
    """``obj[key]`` for a mapping, the field ``key`` otherwise (see :func:`fields`); None when absent."""
    return fields(obj).get(key)


def count(obj: Any, key: str) -> int:
    """The integer ``key`` of ``obj`` (a mapping or an object), or 0 when it is absent or not an int."""
    value = fields(obj).get(key)
    return value if type(value) is int else 0


def _int(view: Mapping[str, Any] | _Attributes, key: str) -> int:
    value = view.get(key)
    return value if type(value) is int else 0


def _first(obj: Any, *keys: str) -> int:
    view = fields(obj)
    for key in keys:
        value = view.get(key)
        if type(value) is int:
            return value
    return 0


# -- OpenAI ----------------------------------------------------------------------------------------------------------
def openai_chat_usage(usage: Any, model: str, provider: str | None = "openai") -> LLMUsage:
    """The usage of a Chat Completions response (or its last stream chunk): ``response.usage``."""
    view = fields(usage)
    details = fields(view.get("prompt_tokens_details"))
    out_details = fields(view.get("completion_tokens_details"))
    input_audio, output_audio = _int(details, "audio_tokens"), _int(out_details, "audio_tokens")
    return _new(
        LLMUsage,
        (
            model,
            provider,
            _int(view, "prompt_tokens"),
            _int(details, "cached_tokens"),
            _int(details, "cache_write_tokens"),
            _int(view, "completion_tokens"),
            _int(out_details, "reasoning_tokens"),
            *(_NONE if not (input_audio or output_audio) else (0, input_audio, 0, output_audio, 0, 0, 0, 0, 0, 0)),
        ),
    )


def openai_responses_usage(usage: Any, model: str, provider: str | None = "openai") -> LLMUsage:
    """The usage of a Responses API response (``response.usage``; also the OpenAI Agents SDK's ``Usage``)."""
    view = fields(usage)
    details = fields(view.get("input_tokens_details"))
    out_details = fields(view.get("output_tokens_details"))
    return _new(
        LLMUsage,
        (
            model,
            provider,
            _int(view, "input_tokens"),
            _int(details, "cached_tokens"),
            _int(details, "cache_write_tokens"),
            _int(view, "output_tokens"),
            _int(out_details, "reasoning_tokens"),
            *_NONE,
        ),
    )


# -- Anthropic -------------------------------------------------------------------------------------------------------
def _anthropic_value(usage: Any, start: Any, *path: str) -> int:
    """A count from ``usage``, else from ``start`` (a stream's ``message_start`` usage, which ``message_delta``
    repeats only in part)."""
    for source in (usage, start):
        obj = source
        for key in path[:-1]:
            obj = field(obj, key)
        value = field(obj, path[-1])
        if type(value) is int:
            return value
    return 0


def anthropic_usage(usage: Any, model: str, provider: str | None = "anthropic", *, start: Any = None) -> LLMUsage:
    """The usage of an Anthropic Messages response (``message.usage``).

    Anthropic's ``input_tokens`` leaves out the cache: cache reads and writes are added to it here (actguard's
    ``input_tokens`` include cached ones). For a stream, pass the final ``message_delta`` usage as ``usage`` and the
    ``message_start`` usage as ``start``: counts the delta does not repeat are taken from the start.
    """
    fresh = _anthropic_value(usage, start, "input_tokens")
    read = _anthropic_value(usage, start, "cache_read_input_tokens")
    written = _anthropic_value(usage, start, "cache_creation_input_tokens")
    return LLMUsage(
        model,
        provider,
        fresh + read + written,
        read,
        written,
        _anthropic_value(usage, start, "output_tokens"),
        _anthropic_value(usage, start, "output_tokens_details", "thinking_tokens"),
        cache_write_1h_tokens=_anthropic_value(usage, start, "cache_creation", "ephemeral_1h_input_tokens"),
        web_search_requests=_anthropic_value(usage, start, "server_tool_use", "web_search_requests"),
    )


# -- Google ----------------------------------------------------------------------------------------------------------
_MODALITIES = {"AUDIO": 0, "IMAGE": 1, "DOCUMENT": 1, "VIDEO": 2}


def _by_modality(details: Any) -> tuple[int, int, int]:
    """(audio, image + document, video) tokens of a list of ``{modality, token_count}``."""
    counts = [0, 0, 0]
    if not details:
        return (0, 0, 0)
    for item in details:
        modality = field(item, "modality")
        modality = getattr(modality, "value", modality)
        slot = _MODALITIES.get(modality) if isinstance(modality, str) else None
        if slot is not None:
            counts[slot] += _first(item, "token_count", "tokenCount")
    return (counts[0], counts[1], counts[2])


def _g(meta: Any, snake: str, camel: str) -> Any:
    value = field(meta, snake)
    return field(meta, camel) if value is None else value


def google_usage(meta: Any, model: str, provider: str | None = "google") -> LLMUsage:
    """The usage of a Gemini response (``response.usage_metadata``; JSON ``usageMetadata``)."""
    thoughts = _first(meta, "thoughts_token_count", "thoughtsTokenCount")
    prompt_audio, prompt_image, prompt_video = _by_modality(_g(meta, "prompt_tokens_details", "promptTokensDetails"))
    tool_audio, tool_image, tool_video = _by_modality(
        _g(meta, "tool_use_prompt_tokens_details", "toolUsePromptTokensDetails")
    )
    cache_audio, cache_image, _ = _by_modality(_g(meta, "cache_tokens_details", "cacheTokensDetails"))
    out_audio, out_image, out_video = _by_modality(
        _g(meta, "candidates_tokens_details", "candidatesTokensDetails")
    )
    return LLMUsage(
        model,
        provider,
        _first(meta, "prompt_token_count", "promptTokenCount")
        + _first(meta, "tool_use_prompt_token_count", "toolUsePromptTokenCount"),
        _first(meta, "cached_content_token_count", "cachedContentTokenCount"),
        0,
        _first(meta, "candidates_token_count", "candidatesTokenCount") + thoughts,
        thoughts,
        input_audio_tokens=prompt_audio + tool_audio,
        cached_audio_input_tokens=cache_audio,
        output_audio_tokens=out_audio,
        input_image_tokens=prompt_image + tool_image,
        cached_image_input_tokens=cache_image,
        output_image_tokens=out_image,
        input_video_tokens=prompt_video + tool_video,
        output_video_tokens=out_video,
    )


# -- any of them -----------------------------------------------------------------------------------------------------
def parse_usage(usage: Any, model: str, provider: str | None = None) -> LLMUsage | None:
    """The usage in any of the shapes above, told apart by its keys; None when ``usage`` holds no token count.

    For adapters that receive a provider's usage without knowing which API produced it (LlamaIndex's ``raw``,
    CrewAI's events, LangChain's ``llm_output``). ``provider="anthropic"`` selects the Anthropic rule (cache
    tokens added to the input) even when a response reports no cache counts.
    """
    if usage is None:
        return None
    if field(usage, "prompt_tokens") is not None:
        parsed = openai_chat_usage(usage, model, provider)
    elif _g(usage, "prompt_token_count", "promptTokenCount") is not None:
        parsed = google_usage(usage, model, provider)
    elif (
        provider == "anthropic"
        or field(usage, "cache_read_input_tokens") is not None
        or field(usage, "cache_creation_input_tokens") is not None
    ):
        parsed = anthropic_usage(usage, model, provider)
    elif field(usage, "input_tokens") is not None or field(usage, "output_tokens") is not None:
        parsed = openai_responses_usage(usage, model, provider)
    elif field(usage, "completion_tokens") is not None:
        parsed = openai_chat_usage(usage, model, provider)
    else:
        return None
    return parsed if parsed.input_tokens or parsed.output_tokens else None
