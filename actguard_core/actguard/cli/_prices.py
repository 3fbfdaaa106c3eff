"""``actguard prices``."""

from __future__ import annotations

import sys

from actguard.budget import LLMUsage, prices
from actguard.exceptions import UnknownModelPriceError


def run_prices(model: str, provider: str | None, input_tokens: int, output_tokens: int, cached: int) -> int:
    try:
        price = prices.price_for(model, provider)
        cost = prices.cost_of(
            LLMUsage(
                model=model,
                provider=provider,
                input_tokens=input_tokens,
                cached_input_tokens=cached,
                output_tokens=output_tokens,
            )
        )
    except UnknownModelPriceError as exc:
        print(f"actguard prices: {exc}", file=sys.stderr)
        return 1
    cached_rate = "same as input" if price.cached_input_per_mtok is None else f"${price.cached_input_per_mtok:g}"
    print(f"model:          {model}" + (f" (provider {provider})" if provider else ""))
    print(f"input:          ${price.input_per_mtok:g} per million tokens")
    print(f"cached input:   {cached_rate} per million tokens")
    print(f"output:         ${price.output_per_mtok:g} per million tokens")
    if input_tokens or output_tokens:
        print(f"usage:          {input_tokens} input ({cached} cached), {output_tokens} output")
        print(f"cost:           ${cost:.6f}")
    return 0
