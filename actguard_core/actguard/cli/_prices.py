"""``actguard prices MODEL``: the price actguard uses for a model (:mod:`actguard.budget.prices`) and a usage's cost."""

from __future__ import annotations

import sys

from actguard.budget import LLMUsage, prices
from actguard.exceptions import UnknownModelPriceError

__all__ = ["run_prices"]


def _rate(value: float | None, default: str = "same as input") -> str:
    return default if value is None else f"${value:g} per million tokens"


def run_prices(model: str, provider: str | None, input_tokens: int, output_tokens: int, cached: int) -> int:
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
    for tier in price.tiers:
        print(
            f"above {tier.above_input_tokens} input tokens (whole call): input {_rate(tier.input_per_mtok)}, "
            f"output {_rate(tier.output_per_mtok)}"
        )
    if input_tokens or output_tokens:
        usage = LLMUsage(
            model=model,
            provider=provider,
            input_tokens=input_tokens,
            cached_input_tokens=cached,
            output_tokens=output_tokens,
        )
        usage_text = f"{_tokens(input_tokens, 'input')} ({cached} cached), {_tokens(output_tokens, 'output')}"
        print(f"usage:          {usage_text}")
        print(f"cost:           ${price.cost(usage):.6f}")
    return 0


def _tokens(n: int, kind: str) -> str:
    return f"{n} {kind} token{'' if n == 1 else 's'}"
