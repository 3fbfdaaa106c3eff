"""What one LLM call used."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["BILLED_DETAILS", "LLMUsage"]

# The quantities billed apart from plain input/output tokens, in the order LLMUsage declares them. Each is a part of
# a broader count (see LLMUsage), priced at its own rate when the model's price has one (else at the broader rate).
BILLED_DETAILS: tuple[str, ...] = (
    "cache_write_1h_tokens",
    "input_audio_tokens",
    "cached_audio_input_tokens",
    "output_audio_tokens",
    "input_image_tokens",
    "cached_image_input_tokens",
    "output_image_tokens",
    "input_video_tokens",
    "output_video_tokens",
    "web_search_requests",
)


class LLMUsage(NamedTuple):
    """Token usage of one LLM call, normalised across providers.

    Immutable (a named tuple: every metered call builds one, and a tuple is the cheapest immutable record to build).

    ``input_tokens`` counts every prompt token, cached ones included (OpenAI's convention; the Anthropic meter adds
    cache reads and writes into it). ``output_tokens`` counts every generated token, reasoning included. The other
    counts are parts of those two, each billed at its own rate where the model's price has one (otherwise at the
    rate of the count it is part of), so a call is priced as the provider bills it.

    Attributes:
        model: the model name, preferably as the response reports it.
        provider: ``"openai"``, ``"anthropic"``, ``"google"``... (helps resolve the price); None lets the price
            lookup guess from the model name.
        input_tokens: all prompt tokens.
        cached_input_tokens: prompt tokens read from the provider's cache (part of ``input_tokens``).
        cache_write_tokens: prompt tokens written to the cache (part of ``input_tokens``), at any lifetime.
        output_tokens: all generated tokens.
        reasoning_tokens: generated reasoning / thinking tokens (part of ``output_tokens``).
        cache_write_1h_tokens: cache writes with a 1-hour lifetime (Anthropic; part of ``cache_write_tokens``).
        input_audio_tokens: audio prompt tokens (part of ``input_tokens``).
        cached_audio_input_tokens: audio prompt tokens read from the cache (part of ``cached_input_tokens`` and
            ``input_audio_tokens``).
        output_audio_tokens: generated audio tokens (part of ``output_tokens``).
        input_image_tokens: image (and document) prompt tokens (part of ``input_tokens``).
        cached_image_input_tokens: image prompt tokens read from the cache (part of ``cached_input_tokens`` and
            ``input_image_tokens``).
        output_image_tokens: generated image tokens (part of ``output_tokens``).
        input_video_tokens: video prompt tokens (part of ``input_tokens``).
        output_video_tokens: generated video tokens (part of ``output_tokens``).
        web_search_requests: paid server-side web searches the call made (Anthropic ``server_tool_use``).
    """

    model: str
    provider: str | None = None
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_1h_tokens: int = 0
    input_audio_tokens: int = 0
    cached_audio_input_tokens: int = 0
    output_audio_tokens: int = 0
    input_image_tokens: int = 0
    cached_image_input_tokens: int = 0
    output_image_tokens: int = 0
    input_video_tokens: int = 0
    output_video_tokens: int = 0
    web_search_requests: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def has_details(self) -> bool:
        """Whether any count of :data:`BILLED_DETAILS` is set (most calls have none: the fast path skips them)."""
        return self[_DETAILS_AT:] != _NO_DETAILS


_DETAILS_AT = LLMUsage._fields.index(BILLED_DETAILS[0])
_NO_DETAILS = (0,) * len(BILLED_DETAILS)
assert LLMUsage._fields[_DETAILS_AT:] == BILLED_DETAILS
