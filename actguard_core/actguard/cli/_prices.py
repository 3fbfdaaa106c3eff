"""``actguard prices MODEL``: the price actguard uses for a model (:mod:`actguard.budget.prices`) and a usage's cost."""

from __future__ import annotations

import sys

from actguard.budget import LLMUsage, prices
from actguard.exceptions import UnknownModelPriceError

__all__ = ["run_prices"]


def _rate(value: float | None, default: str = "same as input") -> str:
    return default if value is None else f"${value:g} per million tokens"


_DETAIL_LABELS = (  # (ModelPrice attribute, label, what it falls back to)
    ("cache_write_1h_per_mtok", "1h cache write", "same as cache write"),
    ("input_audio_per_mtok", "audio input", "same as input"),
    ("cached_audio_input_per_mtok", "cached audio", "same as cached input"),
    ("output_audio_per_mtok", "audio output", "same as output"),
    ("input_image_per_mtok", "image input", "same as input"),
    ("cached_image_input_per_mtok", "cached image", "same as cached input"),
    ("output_image_per_mtok", "image output", "same as output"),
    ("input_video_per_mtok", "video input", "same as input"),
    ("output_video_per_mtok", "video output", "same as output"),
)


def run_prices(
    model: str,
    provider: str | None,
    input_tokens: int,
    output_tokens: int,
    cached: int,
    *,
    cache_write: int = 0,
    cache_write_1h: int = 0,
    web_searches: int = 0,
) -> int:
    """Print the model's price and, when tokens are given, their cost; returns the exit code (1: unknown model)."""
    try:
        price = prices.price_for(model, provider)
    except UnknownModelPriceError as exc:
        print(f"actguard prices: {exc}", file=sys.stderr)
        print(
            "Check the model name (e.g. gpt-4o-mini, claude-sonnet-4-5, gemini-2.5-flash) or pass --provider.",
            file=sys.stderr,
        )
        return 1
    print(f"model:          {model}" + (f" (provider {provider})" if provider else ""))
    print(f"input:          {_rate(price.input_per_mtok)}")
    print(f"cached input:   {_rate(price.cached_input_per_mtok)}")
    if price.cache_write_per_mtok is not None:
        print(f"cache write:    {_rate(price.cache_write_per_mtok)}")
    print(f"output:         {_rate(price.output_per_mtok)}")
    for attr, label, fallback in _DETAIL_LABELS:
        value = getattr(price, attr)
        if value is not None:
            print(f"{label + ':':15s} {_rate(value, fallback)}")
    if price.web_search_per_thousand is not None:
        print(f"web searches:   ${price.web_search_per_thousand:g} per thousand")
    for tier in price.tiers:
        print(
            f"above {tier.above_input_tokens} input tokens (whole call): input {_rate(tier.input_per_mtok)}, "
            f"output {_rate(tier.output_per_mtok)}"
        )
    if input_tokens or output_tokens or web_searches:
        usage = LLMUsage(
            model=model,
            provider=provider,
            input_tokens=input_tokens,
            cached_input_tokens=cached,
            cache_write_tokens=cache_write,
            output_tokens=output_tokens,
            cache_write_1h_tokens=cache_write_1h,
            web_search_requests=web_searches,
        )
        written = f", {cache_write} cache writes ({cache_write_1h} 1-hour)" if cache_write else ""
        searches = f", {web_searches} web searches" if web_searches else ""
        print(
            f"usage:          {_tokens(input_tokens, 'input')} ({cached} cached{written}), "
            f"{_tokens(output_tokens, 'output')}" + searches
        )
        print(f"cost:           ${price.cost(usage):.6f}")
    return 0


def _tokens(n: int, kind: str) -> str:
    return f"{n} {kind} token{'' if n == 1 else 's'}"
