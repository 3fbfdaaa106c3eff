"""BudgetGuard: caps USD and tokens for everything metered inside it."""

from __future__ import annotations

import contextvars
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from actguard.budget import prices
from actguard.budget._usage import LLMUsage
from actguard.exceptions import BudgetExceededError, ConfigError

__all__ = ["BudgetGuard", "ModelUsage", "current_budget"]

_current: contextvars.ContextVar[BudgetGuard | None] = contextvars.ContextVar("actguard_budget", default=None)
_SEEN_CALLS_MAX = 4096  # call ids remembered per guard to record each LLM call once


def current_budget() -> BudgetGuard | None:
    """The innermost active :class:`BudgetGuard` of this thread or task, or None."""
    return _current.get()


@dataclass(slots=True)
class ModelUsage:
    """Usage summed over calls (of one model, or of everything in a guard)."""

    calls: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    usd: float = 0.0

    def add(self, usage: LLMUsage, usd: float) -> None:
        self.calls += 1
        self.input_tokens += usage.input_tokens
        self.cached_input_tokens += usage.cached_input_tokens
        self.cache_write_tokens += usage.cache_write_tokens
        self.output_tokens += usage.output_tokens
        self.reasoning_tokens += usage.reasoning_tokens
        self.usd += usd


@dataclass(slots=True)
class _Ledger:
    usd: float = 0.0
    tokens: int = 0
    total: ModelUsage = field(default_factory=ModelUsage)
    by_model: dict[str, ModelUsage] = field(default_factory=dict)
    costs: dict[str, float] = field(default_factory=dict)  # add_cost spend by name


def _check_limit(name: str, value: float | int | None, integral: bool) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"BudgetGuard({name}=...) must be a number > 0 or None, got {value!r}")
    if integral and not isinstance(value, int):
        raise ConfigError(f"BudgetGuard({name}=...) must be an int > 0 or None, got {value!r}")
    if math.isnan(value) or math.isinf(value) or value <= 0:
        raise ConfigError(f"BudgetGuard({name}=...) must be a finite number > 0 or None, got {value!r}")


class BudgetGuard:
    """Meters every LLM call made inside it and stops spending when a limit is crossed.

    A sync and async context manager. Calls made through the OpenAI, Anthropic and Google SDKs (and through the
    framework adapters) are recorded automatically. Nested guards: usage counts in the inner guard and every
    enclosing one; each enforces its own limits.

    Args:
        user_id: who the spend is for (reported in errors and events).
        usd_limit: stop once this many USD are spent.
        token_limit: stop once this many tokens (input + output) are used.
        name: a label for errors, events and breakdowns.
    """

    def __init__(
        self,
        user_id: str | None = None,
        usd_limit: float | None = None,
        token_limit: int | None = None,
        name: str | None = None,
    ) -> None:
        if user_id is not None and not isinstance(user_id, str):
            raise ConfigError(f"BudgetGuard(user_id=...) must be a str or None, got {user_id!r}")
        _check_limit("usd_limit", usd_limit, integral=False)
        _check_limit("token_limit", token_limit, integral=True)
        self.user_id = user_id
        self.usd_limit = None if usd_limit is None else float(usd_limit)
        self.token_limit = token_limit
        self.name = name
        self._lock = threading.Lock()
        self._ledger = _Ledger()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._parent: BudgetGuard | None = None
        self._token: contextvars.Token[BudgetGuard | None] | None = None

    # -- context manager ----------------------------------------------------------------------------------------
    def __enter__(self) -> BudgetGuard:
        if self._token is not None:
            raise RuntimeError("a BudgetGuard can be entered only once at a time")
        self._parent = _current.get()
        self._token = _current.set(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None

    async def __aenter__(self) -> BudgetGuard:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- readings -----------------------------------------------------------------------------------------------
    @property
    def usd_used(self) -> float:
        return self._ledger.usd

    @property
    def tokens_used(self) -> int:
        return self._ledger.tokens

    @property
    def usage(self) -> ModelUsage:
        """Totals over every metered call (a copy)."""
        with self._lock:
            t = self._ledger.total
            return ModelUsage(
                t.calls,
                t.input_tokens,
                t.cached_input_tokens,
                t.cache_write_tokens,
                t.output_tokens,
                t.reasoning_tokens,
                t.usd,
            )

    @property
    def usage_by_model(self) -> dict[str, ModelUsage]:
        """Usage per model name (copies)."""
        with self._lock:
            return {
                m: ModelUsage(
                    u.calls,
                    u.input_tokens,
                    u.cached_input_tokens,
                    u.cache_write_tokens,
                    u.output_tokens,
                    u.reasoning_tokens,
                    u.usd,
                )
                for m, u in self._ledger.by_model.items()
            }

    @property
    def costs(self) -> dict[str, float]:
        """Non-LLM spend added with :meth:`add_cost`, by name."""
        with self._lock:
            return dict(self._ledger.costs)

    @property
    def parent(self) -> BudgetGuard | None:
        return self._parent

    def exceeded(self) -> BudgetExceededError | None:
        """The error describing the first crossed limit, or None while within limits."""
        ledger = self._ledger
        if self.usd_limit is not None and ledger.usd >= self.usd_limit:
            return BudgetExceededError(self.user_id, "usd", self.usd_limit, ledger.usd, guard_name=self.name)
        if self.token_limit is not None and ledger.tokens >= self.token_limit:
            return BudgetExceededError(self.user_id, "token", self.token_limit, ledger.tokens, guard_name=self.name)
        return None

    def check(self, response: Any = None) -> None:
        """Raise :class:`BudgetExceededError` if this guard or an enclosing one is at or over a limit."""
        guard: BudgetGuard | None = self
        while guard is not None:
            error = guard.exceeded()
            if error is not None:
                error.response = response
                raise error
            guard = guard._parent

    # -- recording ----------------------------------------------------------------------------------------------
    def record(self, usage: LLMUsage, *, call_id: str | None = None) -> float:
        """Charge one LLM call to this guard and every enclosing one; return its USD cost.

        ``call_id`` (the provider's response id) makes recording idempotent: a call seen by several layers (SDK
        meter and framework adapter) is counted once. Does not raise on a crossed limit; call :meth:`check`.
        """
        usd = prices.cost_of(usage)
        guard: BudgetGuard | None = self
        while guard is not None:
            guard._charge(usage, usd, call_id)
            guard = guard._parent
        return usd

    def _charge(self, usage: LLMUsage, usd: float, call_id: str | None) -> None:
        with self._lock:
            if call_id is not None:
                if call_id in self._seen:
                    return
                self._seen[call_id] = None
                if len(self._seen) > _SEEN_CALLS_MAX:
                    self._seen.popitem(last=False)
            ledger = self._ledger
            ledger.usd += usd
            ledger.tokens += usage.total_tokens
            ledger.total.add(usage, usd)
            model = ledger.by_model.get(usage.model)
            if model is None:
                model = ledger.by_model[usage.model] = ModelUsage()
            model.add(usage, usd)

    def add_cost(self, name: str, usd: float) -> None:
        """Charge non-LLM spend (a search API call, say) to this guard and every enclosing one."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"add_cost(name=...) must be a non-empty str, got {name!r}")
        if isinstance(usd, bool) or not isinstance(usd, (int, float)) or not usd >= 0 or math.isinf(usd):
            raise ConfigError(f"add_cost(usd=...) must be a finite number >= 0, got {usd!r}")
        guard: BudgetGuard | None = self
        while guard is not None:
            with guard._lock:
                guard._ledger.usd += usd
                guard._ledger.costs[name] = guard._ledger.costs.get(name, 0.0) + usd
            guard = guard._parent

    def __repr__(self) -> str:
        return (
            f"BudgetGuard(user_id={self.user_id!r}, usd_limit={self.usd_limit!r}, token_limit={self.token_limit!r}, "
            f"usd_used={self.usd_used:.6f}, tokens_used={self.tokens_used})"
        )
