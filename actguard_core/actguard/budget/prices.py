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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from actguard.budget._usage import LLMUsage
from actguard.exceptions import ConfigError, UnknownModelPriceError

__all__ = ["ModelPrice", "PriceTier", "cost_of", "lookup", "price_for", "register", "unregister"]

_REFRESH_S = 3600.0  # cached genai-prices lookups are redone after this long
_CACHE_MAX = 4096  # distinct (model, provider) names cached


# The separately billed quantities a price may have its own rate for: (LLMUsage field, rate attribute, what the
# quantity is, units per priced amount). A quantity is part of every quantity whose description is a subset of its
# own (1-hour cache writes are cache writes are input); each token is charged once, at the most specific rate priced.
_UNITS: tuple[tuple[str, str, frozenset[str], float], ...] = (
    ("input_tokens", "input_per_mtok", frozenset({"input"}), 1e6),
    ("output_tokens", "output_per_mtok", frozenset({"output"}), 1e6),
    ("cached_input_tokens", "cached_input_per_mtok", frozenset({"input", "cache_read"}), 1e6),
    ("cache_write_tokens", "cache_write_per_mtok", frozenset({"input", "cache_write"}), 1e6),
    ("cache_write_1h_tokens", "cache_write_1h_per_mtok", frozenset({"input", "cache_write", "1h"}), 1e6),
    ("input_audio_tokens", "input_audio_per_mtok", frozenset({"input", "audio"}), 1e6),
    ("cached_audio_input_tokens", "cached_audio_input_per_mtok", frozenset({"input", "audio", "cache_read"}), 1e6),
    ("output_audio_tokens", "output_audio_per_mtok", frozenset({"output", "audio"}), 1e6),
    ("input_image_tokens", "input_image_per_mtok", frozenset({"input", "image"}), 1e6),
    ("cached_image_input_tokens", "cached_image_input_per_mtok", frozenset({"input", "image", "cache_read"}), 1e6),
    ("output_image_tokens", "output_image_per_mtok", frozenset({"output", "image"}), 1e6),
    ("input_video_tokens", "input_video_per_mtok", frozenset({"input", "video"}), 1e6),
    ("output_video_tokens", "output_video_per_mtok", frozenset({"output", "video"}), 1e6),
    ("web_search_requests", "web_search_per_thousand", frozenset({"web_search"}), 1e3),
)
# genai-prices' price keys -> ModelPrice rate attributes
_GENAI_KEYS: dict[str, str] = {
    "input_mtok": "input_per_mtok",
    "output_mtok": "output_per_mtok",
    "cache_read_mtok": "cached_input_per_mtok",
    "cache_write_mtok": "cache_write_per_mtok",
    "cache_write_1h_mtok": "cache_write_1h_per_mtok",
    "input_audio_mtok": "input_audio_per_mtok",
    "cache_audio_read_mtok": "cached_audio_input_per_mtok",
    "output_audio_mtok": "output_audio_per_mtok",
    "input_image_mtok": "input_image_per_mtok",
    "cache_image_read_mtok": "cached_image_input_per_mtok",
    "output_image_mtok": "output_image_per_mtok",
    "input_video_mtok": "input_video_per_mtok",
    "output_video_mtok": "output_video_per_mtok",
    "web_searches_kcount": "web_search_per_thousand",
}
_DETAIL_RATES = tuple(rate for _, rate, _, _ in _UNITS[4:])

_Plan = tuple[tuple[str, float, tuple[int, ...]], ...]  # (usage field, USD per unit, indices of its priced parts)


def _plan(rates: Any) -> _Plan:
    """How to price a detailed usage at ``rates``: most specific quantity first, each less what its parts took."""
    priced = [
        (field_, value, what, per)
        for field_, attr, what, per in _UNITS
        if (value := getattr(rates, attr)) is not None or attr in ("input_per_mtok", "output_per_mtok")
    ]
    priced.sort(key=lambda unit: -len(unit[2]))
    return tuple(
        (field_, float(value or 0.0) / per, tuple(j for j, other in enumerate(priced) if what < other[2]))
        for field_, value, what, per in priced
    )


def _detailed_cost(plan: _Plan, usage: LLMUsage) -> float:
    leaves = [0] * len(plan)
    total = 0.0
    for i, (field_, rate, parts) in enumerate(plan):
        leaf = getattr(usage, field_) - sum(leaves[j] for j in parts)
        if leaf > 0:
            leaves[i] = leaf
            total += leaf * rate
    return total


@dataclass(frozen=True, slots=True)
class PriceTier:
    """Rates that apply to a whole call once its input tokens exceed ``above_input_tokens`` (USD per million;
    web searches per thousand). Rates left None fall back as in :class:`ModelPrice`."""

    above_input_tokens: int
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None
    cache_write_1h_per_mtok: float | None = None
    input_audio_per_mtok: float | None = None
    cached_audio_input_per_mtok: float | None = None
    output_audio_per_mtok: float | None = None
    input_image_per_mtok: float | None = None
    cached_image_input_per_mtok: float | None = None
    output_image_per_mtok: float | None = None
    input_video_per_mtok: float | None = None
    output_video_per_mtok: float | None = None
    web_search_per_thousand: float | None = None
    _plan: _Plan = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_plan", _plan(self))


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """The price of one model, in USD per million tokens (web searches: per thousand).

    Each token is charged once, at the most specific rate the price has: a 1-hour cache write at
    ``cache_write_1h_per_mtok``, else ``cache_write_per_mtok``, else ``input_per_mtok``; a cached audio token at
    ``cached_audio_input_per_mtok``, else the cached-input rate, and so on (the rule genai-prices applies).

    Attributes:
        input_per_mtok: fresh (uncached) input tokens.
        output_per_mtok: output tokens, reasoning included.
        cached_input_per_mtok: input tokens read from the provider's cache (None: same as input).
        cache_write_per_mtok: input tokens written to the provider's cache (None: same as input).
        tiers: long-context rates, lowest threshold first.
        cache_write_1h_per_mtok: 1-hour cache writes (None: same as cache writes).
        input_audio_per_mtok: audio input (None: same as input).
        cached_audio_input_per_mtok: cached audio input (None: same as cached input).
        output_audio_per_mtok: audio output (None: same as output).
        input_image_per_mtok: image input (None: same as input).
        cached_image_input_per_mtok: cached image input (None: same as cached input).
        output_image_per_mtok: image output (None: same as output).
        input_video_per_mtok: video input (None: same as input).
        output_video_per_mtok: video output (None: same as output).
        web_search_per_thousand: USD per thousand server-side web searches (None: free).
    """

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None
    tiers: tuple[PriceTier, ...] = ()
    cache_write_1h_per_mtok: float | None = None
    input_audio_per_mtok: float | None = None
    cached_audio_input_per_mtok: float | None = None
    output_audio_per_mtok: float | None = None
    input_image_per_mtok: float | None = None
    cached_image_input_per_mtok: float | None = None
    output_image_per_mtok: float | None = None
    input_video_per_mtok: float | None = None
    output_video_per_mtok: float | None = None
    web_search_per_thousand: float | None = None
    _plan: _Plan = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "_plan", _plan(self))

    def cost(self, usage: LLMUsage) -> float:
        """USD cost of ``usage`` at this price. Each input token is charged once, at its own rate."""
        rates: ModelPrice | PriceTier = self
        if self.tiers:
            for tier in reversed(self.tiers):
                if usage.input_tokens > tier.above_input_tokens:
                    rates = tier
                    break
        if usage.has_details:
            return _detailed_cost(rates._plan, usage)
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


def _detail_rates(rates: dict[str, float | None]) -> dict[str, float | None]:
    unknown = sorted(set(rates) - set(_DETAIL_RATES))
    if unknown:
        raise ConfigError(f"register() got unknown rate(s) {unknown}; accepted: {', '.join(_DETAIL_RATES)}")
    return {name: _rate(name, value, optional=True) for name, value in rates.items()}


def register(
    model: str,
    *,
    input_per_mtok: float,
    output_per_mtok: float,
    cached_input_per_mtok: float | None = None,
    cache_write_per_mtok: float | None = None,
    **detail_rates: float | None,
) -> ModelPrice:
    """Set the price of ``model`` (overriding the bundled data), in USD per million tokens.

    Example::

        actguard.prices.register("my-finetune", input_per_mtok=3.0, output_per_mtok=12.0)

    Args:
        model: the model name, exactly as calls report it.
        input_per_mtok: fresh input tokens.
        output_per_mtok: output tokens.
        cached_input_per_mtok: cache reads (None: as input).
        cache_write_per_mtok: cache writes (None: as input).
        **detail_rates: any other rate of :class:`ModelPrice` (``cache_write_1h_per_mtok``,
            ``input_audio_per_mtok``, ..., ``web_search_per_thousand``).

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
        **_detail_rates(detail_rates),
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
    from genai_prices import data_snapshot

    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider, None)
    except LookupError:
        return None
    return _convert(info.get_prices(datetime.now(tz=timezone.utc)))


def _convert(gp: Any) -> ModelPrice:
    values = {attr: getattr(gp, key, None) for key, attr in _GENAI_KEYS.items()}
    starts = sorted({tier.start for v in values.values() if v is not None and _is_tiered(v) for tier in v.tiers})

    def at(input_tokens: int) -> dict[str, float | None]:
        rates: dict[str, float | None] = {}
        for attr, value in values.items():
            if value is None:
                rates[attr] = None
            elif _is_tiered(value):
                applicable = value.base
                for tier in reversed(value.tiers):
                    if input_tokens > tier.start:
                        applicable = tier.price
                        break
                rates[attr] = float(applicable)
            else:
                rates[attr] = float(value) if isinstance(value, (Decimal, int, float)) else None
        rates["input_per_mtok"] = rates["input_per_mtok"] or 0.0
        rates["output_per_mtok"] = rates["output_per_mtok"] or 0.0
        return rates

    tiers = tuple(PriceTier(start, **at(start + 1)) for start in starts)  # type: ignore[arg-type]
    return ModelPrice(tiers=tiers, **at(0))  # type: ignore[arg-type]


def _is_tiered(value: object) -> Any:
    return hasattr(value, "tiers") and hasattr(value, "base")
