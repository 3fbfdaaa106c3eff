"""Model prices, from the ``genai-prices`` data bundled with that package (works offline).

Use :func:`price_for` to see the price actguard uses for a model and :func:`register` to override it or add a
custom model.

A model's price is looked up in genai-prices once and cached per ``(model, provider)``, as a small
:class:`ModelPrice`, so metering one call costs a dict lookup and a few multiplications instead of genai-prices'
own ``calc_price`` (tens of microseconds). Cached prices are refreshed every hour, so price changes dated in the
data (genai-prices' start-date constraints) take effect in a running process.

Name resolution, in order: a price registered with :func:`register` under the exact name; genai-prices' own
matching (dated snapshots such as ``gpt-4o-2024-08-06`` resolve to ``gpt-4o``); then a ``provider/`` or ``models/``
prefix is stripped (``openai/gpt-4o``, ``models/gemini-2.5-flash``) and the rest looked up with that provider.
Long-context (tiered) prices apply as genai-prices defines them: once a call's input tokens (cached included)
exceed a tier's threshold, every token of the call is charged at that tier's rates.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from actguard.budget._usage import LLMUsage
from actguard.exceptions import ConfigError, UnknownModelPriceError

__all__ = ["ModelPrice", "PriceTier", "cost_of", "lookup", "price_for", "register", "unregister"]

_REFRESH_S = 3600.0  # cached genai-prices lookups are redone after this long
_CACHE_MAX = 4096  # distinct (model, provider) names cached


@dataclass(frozen=True, slots=True)
class PriceTier:
    """Rates that apply to a whole call once its input tokens exceed ``above_input_tokens`` (USD per million)."""

    above_input_tokens: int
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """The price of one model, in USD per million tokens.

    Attributes:
        input_per_mtok: fresh (uncached) input tokens.
        output_per_mtok: output tokens, reasoning included.
        cached_input_per_mtok: input tokens read from the provider's cache (None: same as input).
        cache_write_per_mtok: input tokens written to the provider's cache (None: same as input).
        tiers: long-context rates, lowest threshold first.
    """

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None
    tiers: tuple[PriceTier, ...] = ()

    def cost(self, usage: LLMUsage) -> float:
        """USD cost of ``usage`` at this price. Each input token is charged once, at its own rate."""
        rates: ModelPrice | PriceTier = self
        if self.tiers:
            for tier in reversed(self.tiers):
                if usage.input_tokens > tier.above_input_tokens:
                    rates = tier
                    break
        return _cost(
            rates, usage.input_tokens, usage.cached_input_tokens, usage.cache_write_tokens, usage.output_tokens
        )

    def estimate(self, input_tokens: int, output_tokens: int) -> float:
        """USD cost of ``input_tokens`` fresh input and ``output_tokens`` output tokens (for worst-case checks)."""
        return self.cost(LLMUsage("", None, input_tokens, 0, 0, output_tokens))


def _cost(rates: ModelPrice | PriceTier, input_tokens: int, cached: int, written: int, output: int) -> float:
    fresh = input_tokens - cached - written
    if fresh < 0:
        fresh = 0
    total = fresh * rates.input_per_mtok + output * rates.output_per_mtok
    if cached:
        total += cached * (rates.input_per_mtok if rates.cached_input_per_mtok is None else rates.cached_input_per_mtok)
    if written:
        total += written * (rates.input_per_mtok if rates.cache_write_per_mtok is None else rates.cache_write_per_mtok)
    return total / 1_000_000


_registered: dict[str, ModelPrice] = {}
_cache: dict[tuple[str, str | None], tuple[ModelPrice | None, float]] = {}  # -> (price or None, expires_at)
_lock = threading.Lock()


def _rate(name: str, value: float | int | None, *, optional: bool) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
        raise ConfigError(f"register({name}=...) must be a finite number >= 0, got {value!r}")
    if value < 0:
        raise ConfigError(f"register({name}=...) must be a finite number >= 0, got {value!r}")
    return float(value)


def register(
    model: str,
    *,
    input_per_mtok: float,
    output_per_mtok: float,
    cached_input_per_mtok: float | None = None,
    cache_write_per_mtok: float | None = None,
) -> ModelPrice:
    """Set the price of ``model`` (overriding the bundled data), in USD per million tokens.

    Example::

        actguard.prices.register("my-finetune", input_per_mtok=3.0, output_per_mtok=12.0)

    Returns:
        The registered price.

    Raises:
        ConfigError: a name or rate is invalid.
    """
    if not isinstance(model, str) or not model:
        raise ConfigError(f"register(model=...) must be a non-empty str, got {model!r}")
    price = ModelPrice(
        _rate("input_per_mtok", input_per_mtok, optional=False) or 0.0,
        _rate("output_per_mtok", output_per_mtok, optional=False) or 0.0,
        _rate("cached_input_per_mtok", cached_input_per_mtok, optional=True),
        _rate("cache_write_per_mtok", cache_write_per_mtok, optional=True),
    )
    with _lock:
        _registered[model] = price
        _cache.clear()
    return price


def unregister(model: str) -> None:
    """Drop a price set with :func:`register` (the bundled price, if any, applies again)."""
    with _lock:
        _registered.pop(model, None)
        _cache.clear()


def lookup(model: str, provider: str | None = None) -> ModelPrice | None:
    """The price actguard uses for ``model``, or None when none is known. Cached; costs a dict lookup when warm."""
    key = (model, provider)
    hit = _cache.get(key)
    if hit is not None and hit[1] > time.monotonic():
        return hit[0]
    price = _registered.get(model)
    if price is None:
        price = _resolve(model, provider)
    with _lock:
        if len(_cache) >= _CACHE_MAX:
            _cache.pop(next(iter(_cache)))
        _cache[key] = (price, time.monotonic() + _REFRESH_S)
    return price


def price_for(model: str, provider: str | None = None) -> ModelPrice:
    """The price actguard uses for ``model``.

    Raises:
        UnknownModelPriceError: no price is registered or bundled for it.
    """
    price = lookup(model, provider)
    if price is None:
        raise UnknownModelPriceError(model, provider)
    return price


def cost_of(usage: LLMUsage) -> float:
    """USD cost of ``usage``.

    Raises:
        UnknownModelPriceError: the model has no known price.
    """
    price = lookup(usage.model, usage.provider)
    if price is None:
        raise UnknownModelPriceError(usage.model, usage.provider)
    return price.cost(usage)


# -- genai-prices --------------------------------------------------------------------------------------------------
def _resolve(model: str, provider: str | None) -> ModelPrice | None:
    candidates: list[tuple[str, str | None]] = [(model, provider)]
    if "/" in model:
        prefix, rest = model.split("/", 1)
        if prefix == "models":
            candidates.append((rest, provider))
        else:
            candidates.append((rest, prefix))
            if provider is not None:
                candidates.append((rest, provider))
    for ref, prov in candidates:
        if ref in _registered:
            return _registered[ref]
        gp = _genai_price(ref, prov)
        if gp is not None:
            return gp
    return None


def _genai_price(model: str, provider: str | None) -> ModelPrice | None:
    # Imported here, with genai-prices (which imports them too): not a cost of `import actguard`.
    from datetime import datetime, timezone

    from genai_prices import data_snapshot

    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider, None)
    except LookupError:
        return None
    return _convert(info.get_prices(datetime.now(tz=timezone.utc)))


_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")


def _convert(gp: Any) -> ModelPrice:
    from decimal import Decimal  # genai-prices' prices are Decimals; it has imported decimal already

    values = {key: getattr(gp, key, None) for key in _KEYS}
    starts = sorted({tier.start for v in values.values() if v is not None and _is_tiered(v) for tier in v.tiers})

    def at(key: str, input_tokens: int) -> float | None:
        value = values[key]
        if value is None:
            return None
        if _is_tiered(value):
            applicable = value.base
            for tier in reversed(value.tiers):
                if input_tokens > tier.start:
                    applicable = tier.price
                    break
            return float(applicable)
        return float(value) if isinstance(value, (Decimal, int, float)) else None

    tiers = tuple(
        PriceTier(
            start,
            at("input_mtok", start + 1) or 0.0,
            at("output_mtok", start + 1) or 0.0,
            at("cache_read_mtok", start + 1),
            at("cache_write_mtok", start + 1),
        )
        for start in starts
    )
    return ModelPrice(
        at("input_mtok", 0) or 0.0,
        at("output_mtok", 0) or 0.0,
        at("cache_read_mtok", 0),
        at("cache_write_mtok", 0),
        tiers,
    )


def _is_tiered(value: object) -> Any:
    return hasattr(value, "tiers") and hasattr(value, "base")
