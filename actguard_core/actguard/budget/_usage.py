"""What one LLM call used."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LLMUsage"]


@dataclass(frozen=True, slots=True)
class LLMUsage:
    """Token usage of one LLM call, normalised across providers.

    ``input_tokens`` counts every prompt token, cached ones included (OpenAI's convention; the Anthropic meter adds
    cache reads and writes into it). ``output_tokens`` counts every generated token, reasoning included.

    Attributes:
        model: the model name, preferably as the response reports it.
        provider: ``"openai"``, ``"anthropic"``, ``"google"``... (helps resolve the price); None lets the price
            lookup guess from the model name.
        input_tokens: all prompt tokens.
        cached_input_tokens: prompt tokens read from the provider's cache (part of ``input_tokens``).
        cache_write_tokens: prompt tokens written to the cache (part of ``input_tokens``).
        output_tokens: all generated tokens.
        reasoning_tokens: generated reasoning / thinking tokens (part of ``output_tokens``).
    """

    model: str
    provider: str | None = None
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens
