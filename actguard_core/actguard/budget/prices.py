"""Model prices, from the ``genai-prices`` data bundled with that package (works offline).

Use :func:`price_for` to see the price actguard uses for a model and :func:`register` to override it or add a
custom model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal

from genai_prices import Usage as _GPUsage
from genai_prices import calc_price as _calc_price

from actguard.budget._usage import LLMUsage
from actguard.exceptions import ConfigError, UnknownModelPriceError

__all__ = ["ModelPrice", "cost_of", "price_for", "register", "unregister"]


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None

    def cost(self, usage: LLMUsage) -> float:
        cached = usage.cached_input_tokens
        written = usage.cache_write_tokens
        fresh = max(usage.input_tokens - cached - written, 0)
        cached_rate = self.input_per_mtok if self.cached_input_per_mtok is None else self.cached_input_per_mtok
        write_rate = self.input_per_mtok if self.cache_write_per_mtok is None else self.cache_write_per_mtok
        return (
            fresh * self.input_per_mtok
            + cached * cached_rate
            + written * write_rate
            + usage.output_tokens * self.output_per_mtok
        ) / 1_000_000


_registered: dict[str, ModelPrice] = {}
_lock = threading.Lock()


def register(
    model: str,
    *,
    input_per_mtok: float,
    output_per_mtok: float,
    cached_input_per_mtok: float | None = None,
    cache_write_per_mtok: float | None = None,
) -> ModelPrice:
    """Set the price of ``model`` (overriding the bundled data), in USD per million tokens."""
    if not isinstance(model, str) or not model:
        raise ConfigError(f"register(model=...) must be a non-empty str, got {model!r}")
    for name, value in (
        ("input_per_mtok", input_per_mtok),
        ("output_per_mtok", output_per_mtok),
        ("cached_input_per_mtok", cached_input_per_mtok),
        ("cache_write_per_mtok", cache_write_per_mtok),
    ):
        if value is None and name in ("cached_input_per_mtok", "cache_write_per_mtok"):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ConfigError(f"register({name}=...) must be a number >= 0, got {value!r}")
    price = ModelPrice(float(input_per_mtok), float(output_per_mtok), cached_input_per_mtok, cache_write_per_mtok)
    with _lock:
        _registered[model] = price
    return price


def unregister(model: str) -> None:
    """Drop a price set with :func:`register`."""
    with _lock:
        _registered.pop(model, None)


def cost_of(usage: LLMUsage) -> float:
    """USD cost of ``usage``. Raises :class:`UnknownModelPriceError` when the model has no known price."""
    price = _registered.get(usage.model)
    if price is not None:
        return price.cost(usage)
    try:
        calc = _calc_price(
            _GPUsage(
                input_tokens=usage.input_tokens,
                cache_read_tokens=usage.cached_input_tokens or None,
                cache_write_tokens=usage.cache_write_tokens or None,
                output_tokens=usage.output_tokens,
            ),
            usage.model,
            provider_id=usage.provider,
        )
    except LookupError as exc:
        raise UnknownModelPriceError(usage.model, usage.provider) from exc
    return float(calc.total_price)


def price_for(model: str, provider: str | None = None) -> ModelPrice:
    """The price actguard uses for ``model``. Raises :class:`UnknownModelPriceError` when there is none."""
    registered = _registered.get(model)
    if registered is not None:
        return registered
    try:
        calc = _calc_price(_GPUsage(input_tokens=0, output_tokens=0), model, provider_id=provider)
    except LookupError as exc:
        raise UnknownModelPriceError(model, provider) from exc
    mp = calc.model_price

    def per_mtok(value: object) -> float | None:
        return None if value is None or not isinstance(value, (int, float, Decimal)) else float(value)

    return ModelPrice(
        per_mtok(getattr(mp, "input_mtok", None)) or 0.0,
        per_mtok(getattr(mp, "output_mtok", None)) or 0.0,
        per_mtok(getattr(mp, "cache_read_mtok", None)),
        per_mtok(getattr(mp, "cache_write_mtok", None)),
    )
