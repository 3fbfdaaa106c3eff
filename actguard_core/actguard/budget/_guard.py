"""BudgetGuard: caps USD and tokens for everything metered inside it."""

from __future__ import annotations

import contextlib
import contextvars
import math
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Literal, TypeVar

from actguard import reporting
from actguard.budget import _shared, prices
from actguard.budget._landing import OnWarn, SoftLimit
from actguard.budget._usage import _DETAILS_AT, _NO_DETAILS, BILLED_DETAILS, LLMUsage
from actguard.budget._window import parse_window
from actguard.exceptions import (
    ActGuardWarning,
    BudgetExceededError,
    ConfigError,
    StoreUnavailable,
    UnknownModelPriceError,
)
from actguard.reporting import emit
from actguard.stores import Store, get_default_store
from actguard.stores._base import Reservation, SpendTotals, refused

__all__ = ["BudgetGuard", "ModelUsage", "aadd_cost", "add_cost", "current_budget"]

R = TypeVar("R")
_current: contextvars.ContextVar[BudgetGuard | None] = contextvars.ContextVar("actguard_budget", default=None)
# Reservations taken before an LLM call in this thread or task, settled when the call is recorded: (guard, op_id)
# pairs in an immutable tuple, so tasks that copied the context never share one.
_OUTSTANDING_MAX = 10_000  # unsettled reservations remembered per guard
_reserved: contextvars.ContextVar[tuple[tuple[BudgetGuard, str], ...]] = contextvars.ContextVar(
    "actguard_budget_reservations", default=()
)
# The shared guard whose settle just returned the store's totals in this thread or task: its next check uses them.
_just_settled: contextvars.ContextVar[BudgetGuard | None] = contextvars.ContextVar(
    "actguard_budget_settled", default=None
)
_SEEN_CALLS_MAX = 4096  # call ids remembered per guard to record each LLM call once
_NOTHING_SPENT = SpendTotals(0.0, 0)  # immutable: shared by every guard (one object fewer per guard to collect)


def current_budget() -> BudgetGuard | None:
    """The innermost active :class:`BudgetGuard` of this thread or task, or None."""
    return _current.get()


def _active(caller: str) -> BudgetGuard:
    guard = _current.get()
    if guard is None:
        raise ConfigError(f"{caller}() needs an active BudgetGuard: call it inside `with BudgetGuard(...):`")
    return guard


def add_cost(name: str, usd: float) -> None:
    """Charge non-LLM spend (a search API call, say) to the active :class:`BudgetGuard` and every enclosing one.

    The cost is always recorded (the spend happened); if it takes a guard to a limit, BudgetExceededError is raised
    right after, exactly as for an LLM call that crosses one.

    Raises:
        ConfigError: no BudgetGuard is active, or the arguments are invalid.
        BudgetExceededError: this or an enclosing guard is at or over a limit after recording the cost.
    """
    _active("add_cost").add_cost(name, usd)


async def aadd_cost(name: str, usd: float) -> None:
    """:func:`add_cost` for async code: a shared guard's store work runs in a worker thread, off the event loop.

    Raises:
        ConfigError: no BudgetGuard is active, or the arguments are invalid.
        BudgetExceededError: this or an enclosing guard is at or over a limit after recording the cost.
    """
    await _active("aadd_cost").aadd_cost(name, usd)


@dataclass(slots=True)
class ModelUsage:
    """Usage summed over calls (of one model, or of everything in a guard). The counts mean what they mean in
    :class:`~actguard.LLMUsage`."""

    calls: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    usd: float = 0.0
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

    def add(self, usage: LLMUsage, usd: float) -> None:
        """Add one call."""
        self.calls += 1
        self.input_tokens += usage.input_tokens
        self.cached_input_tokens += usage.cached_input_tokens
        self.cache_write_tokens += usage.cache_write_tokens
        self.output_tokens += usage.output_tokens
        self.reasoning_tokens += usage.reasoning_tokens
        self.usd += usd
        if usage.has_details:
            self._add_details(usage)

    def _add_details(self, other: LLMUsage | ModelUsage) -> None:
        for name in BILLED_DETAILS:
            value = getattr(other, name)
            if value:
                setattr(self, name, getattr(self, name) + value)

    def merge(self, other: ModelUsage) -> None:
        """Add another summary."""
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.cached_input_tokens += other.cached_input_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.output_tokens += other.output_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.usd += other.usd
        self._add_details(other)

    def copy(self) -> ModelUsage:
        """A copy."""
        copied = ModelUsage(
            self.calls,
            self.input_tokens,
            self.cached_input_tokens,
            self.cache_write_tokens,
            self.output_tokens,
            self.reasoning_tokens,
            self.usd,
        )
        copied._add_details(self)
        return copied


@dataclass(slots=True)
class _Ledger:
    usd: float = 0.0
    tokens: int = 0
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


def _fallback(value: object) -> prices.ModelPrice | None:
    if value is None or isinstance(value, prices.ModelPrice):
        return value
    if isinstance(value, Mapping):
        try:
            return prices.ModelPrice(
                input_per_mtok=_non_negative(value["input_per_mtok"]),
                output_per_mtok=_non_negative(value["output_per_mtok"]),
            )
        except (KeyError, TypeError, ValueError):
            pass
    raise ConfigError(
        "BudgetGuard(fallback_price=...) must be an actguard.prices.ModelPrice or a mapping "
        f"{{'input_per_mtok': float, 'output_per_mtok': float}} (USD per million tokens), got {value!r}"
    )


def _non_negative(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(value)
    return float(value)


class BudgetGuard:
    """Meters every LLM call made inside it and stops spending when a limit is crossed.

    A sync and async context manager. Calls made through the OpenAI, Anthropic and Google GenAI SDKs (and through
    the framework adapters) are recorded automatically, once each. Nested guards: usage counts in the inner guard
    and every enclosing one; each enforces its own limits.

    From async code (the async SDK clients, ``async with``, :meth:`acheck_call`, :meth:`arecord`, :meth:`acheck`,
    :meth:`aadd_cost`) a shared guard's store work runs in a worker thread, so a slow store never blocks the event
    loop; a per-process guard does no I/O and stays on the loop.

    Enforcement: before each LLM call, a guard at or over a limit raises :class:`~actguard.BudgetExceededError`
    and nothing is sent; a call that crosses a limit raises it right after, with the response attached
    (``error.response``); a stream stops as soon as its running estimate crosses a limit.

    Args:
        user_id: who the spend is for (reported in errors and events; part of the shared key).
        usd_limit: stop once this many USD are spent.
        token_limit: stop once this many tokens (input + output) are used.
        name: a label for errors, events and breakdowns (part of the shared key).
        strict: also refuse, before sending, a call whose worst case (prompt estimate plus its max output tokens,
            at the model's price) would exceed what is left. Off by default. Without a max-output argument on the
            call only the prompt estimate counts.
        on_unknown_model: what to do with a model that has no known price while a usd_limit applies. ``"raise"``
            (the default): :class:`~actguard.UnknownModelPriceError`, before sending when the request names the
            model. ``"warn"``: warn (:class:`~actguard.ActGuardWarning`) and charge ``fallback_price``.
        fallback_price: the price for unknown models with ``on_unknown_model="warn"``: an
            :class:`actguard.prices.ModelPrice` or ``{"input_per_mtok": ..., "output_per_mtok": ...}``.
        shared: keep the spend in the store too, under a key made of ``name`` and ``user_id``, so every process
            using the same store shares one budget (limits compare the store's totals).
        window: with ``shared``: the spend under the key expires this long after its first addition (a fixed
            window: seconds, or ``"30s"``, ``"15m"``, ``"1h"``, ``"1d"``, ``"7d"``). None: never expires.
        store: the store for ``shared`` (None: the default store, looked up at each use).
        reserve: with ``shared``: output tokens to reserve for a call that names no max output tokens (default
            4096). Before each LLM call a shared guard reserves the call's worst case (prompt estimate + max output
            tokens, at the model's price) in one atomic store operation and refuses the call when spend + live
            reservations + this one would cross a limit; after the call the reservation settles to the metered
            cost. When ``reserve`` does not fit, a call without a max reserves what is left of the limits after its
            prompt instead (refused only when not one output token fits). So concurrent workers never overshoot a
            shared limit with calls that set a max output (or stay within their reservation); past that, by at most
            what a call wrote beyond its reservation. A reservation not settled within 15 minutes (its worker died)
            expires.
        warn_at: soft limit, a fraction in (0, 1) of each limit: when the spend first reaches it, :attr:`warned`
            becomes True, ``on_warn(guard)`` runs and one ``budget`` / ``soft_limit`` / ``warned`` event is emitted
            (once per guard); the framework adapters then tell the model to finish with what it has
            (:func:`actguard.budget.landing_note`). The hard limits still stop the run.
        on_warn: called with the guard when it warns (with ``warn_at``); its errors are logged, never raised. From
            async code a shared guard records in a worker thread (:meth:`arecord`), so it may be called there.
    """

    # A guard a framework adapter makes for its own bookkeeping (LangChain's per-call scope): charged like any other,
    # never named in events, which report the first guard of the chain the user can see (or nothing without one).
    _internal: ClassVar[bool] = False

    def __init__(
        self,
        user_id: str | None = None,
        usd_limit: float | None = None,
        token_limit: int | None = None,
        name: str | None = None,
        *,
        strict: bool = False,
        on_unknown_model: Literal["raise", "warn"] = "raise",
        fallback_price: prices.ModelPrice | Mapping[str, float] | None = None,
        shared: bool = False,
        window: float | str | None = None,
        store: Store | None = None,
        reserve: int | None = None,
        warn_at: float | None = None,
        on_warn: OnWarn | None = None,
    ) -> None:
        if user_id is not None and not isinstance(user_id, str):
            raise ConfigError(f"BudgetGuard(user_id=...) must be a str or None, got {user_id!r}")
        if name is not None and not isinstance(name, str):
            raise ConfigError(f"BudgetGuard(name=...) must be a str or None, got {name!r}")
        _check_limit("usd_limit", usd_limit, integral=False)
        _check_limit("token_limit", token_limit, integral=True)
        if not isinstance(strict, bool):
            raise ConfigError(f"BudgetGuard(strict=...) must be True or False, got {strict!r}")
        if on_unknown_model not in ("raise", "warn"):
            raise ConfigError(f"BudgetGuard(on_unknown_model=...) must be 'raise' or 'warn', got {on_unknown_model!r}")
        fallback = _fallback(fallback_price)
        if on_unknown_model == "warn" and fallback is None:
            raise ConfigError("BudgetGuard(on_unknown_model='warn') needs fallback_price=... (USD per million tokens)")
        if on_unknown_model == "raise" and fallback is not None:
            raise ConfigError("BudgetGuard(fallback_price=...) applies only with on_unknown_model='warn'")
        if not isinstance(shared, bool):
            raise ConfigError(f"BudgetGuard(shared=...) must be True or False, got {shared!r}")
        if store is not None and not isinstance(store, Store):
            raise ConfigError(f"BudgetGuard(store=...) must be an actguard Store or None, got {store!r}")
        if not shared and (window is not None or store is not None):
            raise ConfigError("BudgetGuard(window=..., store=...) apply only with shared=True")
        if reserve is not None and (
            isinstance(reserve, bool) or not isinstance(reserve, int) or not 0 <= reserve <= 10_000_000
        ):
            raise ConfigError(
                f"BudgetGuard(reserve=...) must be an int of output tokens in 0..10000000, got {reserve!r}"
            )
        if not shared and reserve is not None:
            raise ConfigError("BudgetGuard(reserve=...) applies only with shared=True")
        if shared and user_id is None and name is None:
            raise ConfigError("BudgetGuard(shared=True) needs a user_id or a name to key the shared spend")
        self._soft = SoftLimit.parse(warn_at, on_warn, usd_limit is not None or token_limit is not None)
        self.user_id = user_id
        self.usd_limit = None if usd_limit is None else float(usd_limit)
        self.token_limit = token_limit
        self.name = name
        self.strict = strict
        self.on_unknown_model = on_unknown_model
        self.fallback_price = fallback
        self.shared = shared
        self.window: float | None = parse_window(window) if shared else None
        self._store = store
        self._shared_key = f"actguard:budget:{name or ''}:{user_id or ''}"
        self._shared_seen = _NOTHING_SPENT  # the store's totals at the last check or charge
        self.reserve = _shared.DEFAULT_RESERVE_OUTPUT_TOKENS if reserve is None else reserve
        self._lock = threading.Lock()
        # Reservations of this guard not yet settled, oldest first: a framework that runs its before-call hook in a
        # copied context (asyncio.gather, a worker thread) loses the context's record of it, and the call's record
        # then settles the oldest of these instead; guard exit hands back what is left.
        self._outstanding: list[str] = []
        # The ledger's lock guards the reservations too: neither critical section calls out of the guard, so they
        # never nest, and every finished run's budget stays readable (one lock object fewer per guard to collect).
        self._outstanding_lock = self._lock
        self._ledger = _Ledger()
        # Call ids charged here, the newest _SEEN_CALLS_MAX of them, oldest first. A dict as an ordered set: one
        # object where a set and a deque were two, and one the garbage collector skips (it holds only strings);
        # adapters keep every finished run's budget readable, so what a guard holds is collected over and over.
        self._seen: dict[str, None] = {}
        self._unpriced: UnknownModelPriceError | None = None
        self._parent: BudgetGuard | None = None
        self._token: contextvars.Token[BudgetGuard | None] | None = None
        from actguard.budget.providers import install_imported

        install_imported()

    # -- context manager ----------------------------------------------------------------------------------------
    def __enter__(self) -> BudgetGuard:
        if self._token is not None:
            raise RuntimeError("a BudgetGuard can be entered only once at a time")
        from actguard.budget.providers import install_imported

        install_imported()
        self._parent = _current.get()
        self._token = _current.set(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._leave()
        if self.shared and self._outstanding:
            self._hand_back_outstanding()

    async def __aenter__(self) -> BudgetGuard:
        return self.__enter__()  # no store work: a shared guard first touches its store at a check

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._leave()  # here: the context variable is reset in the context that set it
        if self.shared and self._outstanding:
            await _shared.off_loop(self._hand_back_outstanding)

    def _leave(self) -> None:
        token, self._token = self._token, None
        if token is None:
            return
        # Left from another context than the one that entered it (an async generator or a stream closed by another
        # task): that context keeps this guard current until it ends, which this one cannot change.
        with contextlib.suppress(ValueError):
            _current.reset(token)

    def _hand_back_outstanding(self) -> None:
        """Settle to nothing the reservations of calls made here and never recorded (they failed)."""
        with self._outstanding_lock:
            stale, self._outstanding = self._outstanding, []
        for op_id in stale:
            _shared.settle(self._get_store(), self._shared_key, op_id, 0.0, 0, self.window)

    # -- from async code: the same steps, off the event loop when a store is involved ------------------------------
    async def _off_loop(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> R:
        """``fn(*args, **kwargs)``, a sync step of this guard chain, for async code: in a worker thread when a
        shared guard in the chain may wait on its store (see :func:`actguard.budget._shared.off_loop`), else right
        here (a per-process chain does no I/O: no thread hop)."""
        if self.waits_on_store():
            return await _shared.off_loop(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    def waits_on_store(self) -> bool:
        """Whether a step of this guard chain may wait on a store: this guard or one enclosing it is shared (so
        async code runs it off the event loop; a per-process chain does no I/O)."""
        guard: BudgetGuard | None = self
        while guard is not None:
            if guard.shared:
                return True
            guard = guard._parent
        return False

    async def acheck_call(
        self,
        model: str | None,
        *,
        provider: str | None = None,
        prompt_tokens: int = 0,
        max_output_tokens: int | None = None,
    ) -> None:
        """:meth:`check_call` for async code. With a shared guard in the chain, its store work (the reservation)
        runs in a worker thread, so a slow or stalled store never blocks the event loop.

        Raises:
            BudgetExceededError: as :meth:`check_call`.
            UnknownModelPriceError: as :meth:`check_call`.
            StoreUnavailable: a shared guard's store cannot be reached (fail closed).
        """
        await self._off_loop(
            self.check_call,
            model,
            provider=provider,
            prompt_tokens=prompt_tokens,
            max_output_tokens=max_output_tokens,
        )

    async def arecord(self, usage: LLMUsage, *, call_id: str | None = None, reported: bool = False) -> float:
        """:meth:`record` for async code (a shared guard's settle runs in a worker thread, off the event loop)."""
        return await self._off_loop(self.record, usage, call_id=call_id, reported=reported)

    async def acheck(self, response: Any = None) -> None:
        """:meth:`check` for async code (a shared guard's store read runs in a worker thread, off the event loop).

        Raises:
            BudgetExceededError: a limit is reached.
            UnknownModelPriceError: as :meth:`check`.
        """
        await self._off_loop(self.check, response)

    async def aadd_cost(self, name: str, usd: float) -> None:
        """:meth:`add_cost` for async code (a shared guard's settle runs in a worker thread, off the event loop).

        Raises:
            ConfigError: the arguments are invalid.
            BudgetExceededError: a limit is reached after recording the cost.
        """
        await self._off_loop(self.add_cost, name, usd)

    # -- readings -----------------------------------------------------------------------------------------------
    @property
    def usd_used(self) -> float:
        """USD spent inside this guard (LLM calls and :meth:`add_cost`)."""
        return self._ledger.usd

    @property
    def tokens_used(self) -> int:
        """Tokens (input + output) used inside this guard."""
        return self._ledger.tokens

    @property
    def usage(self) -> ModelUsage:
        """Totals over every metered call (a copy)."""
        total = ModelUsage()
        with self._lock:
            for u in self._ledger.by_model.values():
                total.merge(u)
        return total

    @property
    def usage_by_model(self) -> dict[str, ModelUsage]:
        """Usage per model name (copies)."""
        with self._lock:
            return {m: u.copy() for m, u in self._ledger.by_model.items()}

    @property
    def costs(self) -> dict[str, float]:
        """Non-LLM spend added with :meth:`add_cost`, by name."""
        with self._lock:
            return dict(self._ledger.costs)

    @property
    def warned(self) -> bool:
        """Whether the spend has reached ``warn_at`` of a limit (False without ``warn_at``)."""
        return self._soft is not None and self._soft.warned

    @property
    def parent(self) -> BudgetGuard | None:
        """The guard this one is nested in while active."""
        return self._parent

    def shared_usage(self) -> SpendTotals:
        """With ``shared=True``: the spend every process has added under this guard's key (asks the store)."""
        if not self.shared:
            raise ConfigError("shared_usage() needs BudgetGuard(shared=True)")
        store = self._get_store()
        if _shared.OUTBOX:
            _shared.OUTBOX.flush(store)  # on recovery, parked spend arrives before the read
        totals = store.spend_get(self._shared_key)
        parked_usd, parked_tokens = _shared.OUTBOX.parked(store, self._shared_key)
        if parked_usd or parked_tokens:  # spend this process still holds counts too: checks fail closed on it
            totals = SpendTotals(totals.usd + parked_usd, totals.tokens + parked_tokens)
        self._shared_seen = totals
        return totals

    # -- the shared path (see actguard.budget._shared) ------------------------------------------------------------
    def _add_shared(self, usd: float, tokens: int) -> None:
        """Settle spend in the store: this context's reservation (if any) becomes the actual cost. Spend the store
        cannot take is parked process-wide and delivered later, never lost and never counted twice."""
        op_id = self._take_reservation() or _shared.new_op_id()
        totals = _shared.settle(self._get_store(), self._shared_key, op_id, usd, tokens, self.window)
        if totals is not None:
            self._shared_seen = totals
            _just_settled.set(self)  # the check right after this call needs no second round trip
        else:
            _just_settled.set(None)  # parked: the next check must read the store (and fail closed if it cannot)
            seen = self._shared_seen
            self._shared_seen = SpendTotals(seen.usd + usd, seen.tokens + tokens)

    def _take_reservation(self, *, any_context: bool = True) -> str | None:
        """Remove and return this guard's pending reservation in this thread or task; with ``any_context``, when
        this context holds none, the guard's oldest outstanding one (reserved in a context the record cannot see)."""
        held = _reserved.get()
        for i, (guard, op_id) in enumerate(held):
            if guard is self:
                _reserved.set(held[:i] + held[i + 1 :])
                with self._outstanding_lock:
                    if op_id in self._outstanding:
                        self._outstanding.remove(op_id)
                        return op_id
                break  # already settled through another context: look for the oldest below
        if not any_context:
            return None
        with self._outstanding_lock:
            return self._outstanding.pop(0) if self._outstanding else None

    def _release_reservation(self) -> None:
        """Hand back this context's pending reservation (its call was never recorded), settling it to nothing."""
        stale = self._take_reservation(any_context=False)
        if stale is not None:
            _shared.settle(self._get_store(), self._shared_key, stale, 0.0, 0, self.window)

    def _reserve_call(self, price: prices.ModelPrice | None, prompt_tokens: int, max_output: int | None) -> None:
        """Reserve an LLM call's worst case before it is sent; refuse it when that would cross a limit.

        A call that names no max output reserves ``reserve`` output tokens; if that does not fit, it retries once
        with what is left of the limits after its prompt (so a small budget is not refused by a default guess), and
        is refused only when not even one output token fits."""
        self._release_reservation()  # the previous call here was never recorded (it failed)
        output = self.reserve if max_output is None else max_output
        answer, usd, tokens = self._reserve(price, prompt_tokens, output)
        if not answer.granted and max_output is None:
            room = self._output_room(price, prompt_tokens, answer)
            if 0 < room < output:
                answer, usd, tokens = self._reserve(price, prompt_tokens, room)
        if not answer.granted:
            # used: the spend (and live reservations) when already at the limit, else what this call would bring
            if self.token_limit is not None and refused(answer.tokens, tokens, self.token_limit):
                used_tokens = answer.tokens if answer.tokens >= self.token_limit else answer.tokens + tokens
                error = BudgetExceededError(
                    self.user_id, "token", self.token_limit, used_tokens, guard_name=self.name, guard=self
                )
            else:
                assert self.usd_limit is not None
                used_usd = answer.usd if answer.usd >= self.usd_limit else answer.usd + usd
                error = BudgetExceededError(
                    self.user_id, "usd", self.usd_limit, used_usd, guard_name=self.name, guard=self
                )
            self._emit_exceeded(error, strict=True)
            raise error

    def _reserve(
        self, price: prices.ModelPrice | None, prompt_tokens: int, output: int
    ) -> tuple[Reservation, float, int]:
        """One atomic reservation of ``prompt_tokens`` + ``output``; a granted one is held for this context's call."""
        tokens = prompt_tokens + output
        usd = price.estimate(prompt_tokens, output) if price is not None and self.usd_limit is not None else 0.0
        op_id = _shared.new_op_id()
        try:
            answer = _shared.reserve(
                self._get_store(),
                self._shared_key,
                op_id,
                usd,
                tokens,
                usd_limit=self.usd_limit,
                token_limit=self.token_limit,
                ttl=self.window,
            )
        except StoreUnavailable:
            # It may still land (a stalled Redis runs it later): keep its id, so the next call here releases it
            # instead of leaving it to hold budget for its whole lease.
            self._hold(op_id)
            raise
        if answer.granted:
            self._hold(op_id)
        return answer, usd, tokens

    def _hold(self, op_id: str) -> None:
        """Remember a reservation until its call is recorded: in this context, and on the guard (bounded by the
        calls in flight; an expired lease frees the store's side anyway)."""
        _reserved.set((*_reserved.get(), (self, op_id)))
        with self._outstanding_lock:
            self._outstanding.append(op_id)
            if len(self._outstanding) > _OUTSTANDING_MAX:
                del self._outstanding[0]

    def _output_room(self, price: prices.ModelPrice | None, prompt_tokens: int, held: Reservation) -> int:
        """Output tokens that still fit under every limit after the prompt, given the store's spend + reservations."""
        room = 10_000_000
        if self.token_limit is not None:
            room = min(room, self.token_limit - held.tokens - prompt_tokens)
        if self.usd_limit is not None and price is not None:
            per_token = price.estimate(0, 1_000_000) / 1_000_000
            usd_room = self.usd_limit - held.usd - price.estimate(prompt_tokens, 0)
            if per_token > 0:
                room = min(room, int(usd_room / per_token))
        return room

    def _get_store(self) -> Store:
        return self._store if self._store is not None else get_default_store()

    def _totals(self, fresh: bool) -> tuple[float, int]:
        if self.shared:
            if fresh and _just_settled.get() is self:  # the settle of this context's call returned fresh totals
                _just_settled.set(None)
                fresh = False
            totals = self.shared_usage() if fresh else self._shared_seen
            return totals.usd, totals.tokens
        return self._ledger.usd, self._ledger.tokens

    def exceeded(self) -> BudgetExceededError | None:
        """The error describing this guard's first crossed limit, or None while within limits.

        With ``shared=True`` this asks the store for the totals of every process.
        """
        if self.usd_limit is None and self.token_limit is None:
            return None
        usd, tokens = self._totals(fresh=True)
        return self._over(usd, tokens)

    def _over(self, usd: float, tokens: int) -> BudgetExceededError | None:
        if self.usd_limit is not None and usd >= self.usd_limit:
            return BudgetExceededError(self.user_id, "usd", self.usd_limit, usd, guard_name=self.name, guard=self)
        if self.token_limit is not None and tokens >= self.token_limit:
            return BudgetExceededError(
                self.user_id, "token", self.token_limit, tokens, guard_name=self.name, guard=self
            )
        return None

    def check(self, response: Any = None) -> None:
        """Raise if this guard or an enclosing one is at or over a limit.

        Args:
            response: attached to the error (``error.response``) so the response of a crossing call is not lost.

        Raises:
            BudgetExceededError: a limit is reached.
            UnknownModelPriceError: a call of a model without a known price was recorded under a usd_limit.
        """
        self._check_chain(response, reserving=False)

    def _check_chain(self, response: Any, *, reserving: bool) -> None:
        """:meth:`check`; with ``reserving``, shared guards with limits are left to their reservation, which refuses
        at or over a limit in the same round trip."""
        guard: BudgetGuard | None = self
        while guard is not None:
            if guard._unpriced is not None:
                raise guard._unpriced
            if not (reserving and guard.shared and guard.has_own_limits):
                error = guard.exceeded()
                if error is not None:
                    error.response = response
                    guard._emit_exceeded(error)
                    raise error
            if guard._soft is not None:  # spend added without a record (add_cost, other processes) warns here
                guard._soft.observe(guard, *guard._totals(fresh=False))
            guard = guard._parent

    @property
    def has_own_limits(self) -> bool:
        """Whether this guard itself has a usd_limit or a token_limit."""
        return self.usd_limit is not None or self.token_limit is not None

    def check_call(
        self,
        model: str | None,
        *,
        provider: str | None = None,
        prompt_tokens: int = 0,
        max_output_tokens: int | None = None,
    ) -> None:
        """Everything checked before an LLM call is sent (the SDK meters call it; adapters may too).

        :meth:`check`; then, for each guard with a usd_limit, that ``model`` has a price (or a fallback); then, for
        strict guards, that ``prompt_tokens + max_output_tokens`` at the model's price fits in what is left.

        Raises:
            BudgetExceededError: a limit is reached, or a strict guard's worst case does not fit.
            UnknownModelPriceError: ``model`` has no known price under a usd_limit with ``on_unknown_model="raise"``.
        """
        self._check_chain(None, reserving=model is not None)
        if model is None:
            return
        try:
            self._check_call_chain(model, provider, prompt_tokens, max_output_tokens)
        except BaseException:
            guard: BudgetGuard | None = self  # refused further out: hand back what inner guards reserved for it
            while guard is not None:
                if guard.shared:
                    guard._release_reservation()
                guard = guard._parent
            raise

    def _check_call_chain(
        self, model: str, provider: str | None, prompt_tokens: int, max_output_tokens: int | None
    ) -> None:
        price: prices.ModelPrice | None = None
        looked_up = False
        guard: BudgetGuard | None = self
        while guard is not None:
            if guard.usd_limit is not None or guard.strict:
                if not looked_up:
                    price, looked_up = prices.lookup(model, provider), True
                if price is None and guard.usd_limit is not None and guard.fallback_price is None:
                    raise UnknownModelPriceError(model, provider)
                if guard.strict:
                    guard._check_worst_case(price or guard.fallback_price, prompt_tokens, max_output_tokens or 0)
            if guard.shared and (guard.usd_limit is not None or guard.token_limit is not None):
                if not looked_up:
                    price, looked_up = prices.lookup(model, provider), True
                guard._reserve_call(price or guard.fallback_price, prompt_tokens, max_output_tokens)
            guard = guard._parent

    def _check_worst_case(self, price: prices.ModelPrice | None, prompt_tokens: int, max_output: int) -> None:
        usd, tokens = self._totals(fresh=False)
        worst_tokens = prompt_tokens + max_output
        error: BudgetExceededError | None = None
        if self.token_limit is not None and tokens + worst_tokens > self.token_limit:
            error = BudgetExceededError(
                self.user_id, "token", self.token_limit, tokens + worst_tokens, guard_name=self.name, guard=self
            )
        elif self.usd_limit is not None and price is not None:
            worst_usd = price.estimate(prompt_tokens, max_output)
            if usd + worst_usd > self.usd_limit:
                error = BudgetExceededError(
                    self.user_id, "usd", self.usd_limit, usd + worst_usd, guard_name=self.name, guard=self
                )
        if error is not None:
            self._emit_exceeded(error, strict=True)
            raise error

    def would_exceed(self, usd: float, tokens: int) -> BudgetExceededError | None:
        """The error for the first guard in the chain that ``usd`` and ``tokens`` more would take to a limit.

        Uses the totals already known (no store round trip): streams call it on every chunk.
        """
        guard: BudgetGuard | None = self
        while guard is not None:
            if guard.usd_limit is not None or guard.token_limit is not None:
                used_usd, used_tokens = guard._totals(fresh=False)
                error = guard._over(used_usd + usd, used_tokens + tokens)
                if error is not None:
                    return error
            guard = guard._parent
        return None

    @property
    def has_limits(self) -> bool:
        """Whether this guard or an enclosing one has a limit."""
        guard: BudgetGuard | None = self
        while guard is not None:
            if guard.usd_limit is not None or guard.token_limit is not None:
                return True
            guard = guard._parent
        return False

    # -- recording ----------------------------------------------------------------------------------------------
    def record(self, usage: LLMUsage, *, call_id: str | None = None, reported: bool = False) -> float:
        """Charge one LLM call to this guard and every enclosing one; return its USD cost (in this guard).

        ``call_id`` (the provider's response id) makes recording idempotent: a call seen by several layers (SDK
        meter and framework adapter) is counted once. Does not raise on a crossed limit: call :meth:`check`.
        A model without a known price is charged its guard's fallback price (with a warning) or $0, and then
        :meth:`check` raises :class:`~actguard.UnknownModelPriceError` in guards that have a usd_limit.

        Events: one ``budget`` / ``llm_call`` / ``recorded`` event per LLM call, so that summing their ``usd`` counts
        every call once. A layer charging a call that another record already reported, to a budget outside that
        record's chain (a framework adapter's run budget next to the caller's guard), passes ``reported=True``: the
        charge is then reported as ``budget`` / ``llm_call`` / ``charged`` (same payload, not spend to add up).
        """
        price = prices.lookup(usage.model, usage.provider)
        details = usage[_DETAILS_AT:] != _NO_DETAILS  # most calls have no separately billed details: skip them
        usd = price._cost(usage, details) if price is not None else None
        result: float | None = None
        # What each guard charged (None: it had this call_id already), kept only when someone listens for events.
        charges: list[tuple[BudgetGuard, float | None]] | None = [] if reporting._sinks else None
        guard: BudgetGuard | None = self
        while guard is not None:
            charged = guard._charge(usage, usd, call_id, details)
            if guard is self:
                result = charged
            if charges is not None:
                charges.append((guard, charged))
            guard = guard._parent
        if charges:
            _emit_recorded(usage, call_id, charges, reported)
        if result is None:  # already recorded under this call_id
            return 0.0 if usd is None else usd
        return result

    def has_recorded(self, call_id: str) -> bool:
        """Whether this guard charged a call under ``call_id`` (among the newest calls it remembers)."""
        with self._lock:
            return call_id in self._seen

    def _charge(self, usage: LLMUsage, usd: float | None, call_id: str | None, details: bool = True) -> float | None:
        """Charge one call here; return its cost, or None when ``call_id`` was charged already."""
        with self._lock:
            if call_id is not None:
                seen = self._seen
                if call_id in seen:
                    return None
                seen[call_id] = None
                if len(seen) > _SEEN_CALLS_MAX:
                    del seen[next(iter(seen))]
            if usd is None:
                usd = self._unknown_cost(usage)
            name, _, input_tokens, cached, written, output_tokens, reasoning = usage[:7]  # one read of the tuple
            ledger = self._ledger
            ledger.usd += usd
            ledger.tokens += input_tokens + output_tokens
            model = ledger.by_model.get(name)
            if model is None:
                model = ledger.by_model[name] = ModelUsage()
            model.calls += 1  # ModelUsage.add, inlined: this is the hot path of every metered call
            model.input_tokens += input_tokens
            model.cached_input_tokens += cached
            model.cache_write_tokens += written
            model.output_tokens += output_tokens
            model.reasoning_tokens += reasoning
            model.usd += usd
            if details:
                model._add_details(usage)
        if self.shared:
            self._add_shared(usd, usage.total_tokens)
        if self._soft is not None:
            self._soft.observe(self, *self._totals(fresh=False))
        return usd

    def _unknown_cost(self, usage: LLMUsage) -> float:
        if self.fallback_price is not None:
            warnings.warn(
                f"no price known for model {usage.model!r}; charging the fallback price "
                f"(${self.fallback_price.input_per_mtok:g} in / ${self.fallback_price.output_per_mtok:g} out per "
                f"million tokens). Register one with actguard.prices.register({usage.model!r}, ...).",
                ActGuardWarning,
                stacklevel=4,
            )
            return self.fallback_price.cost(usage)
        if self.usd_limit is not None and self._unpriced is None:
            self._unpriced = UnknownModelPriceError(usage.model, usage.provider)
        return 0.0

    def add_cost(self, name: str, usd: float) -> None:
        """Charge non-LLM spend (a search API call, say) to this guard and every enclosing one.

        The cost is always recorded (the spend happened); if it takes this or an enclosing guard to a limit,
        :class:`~actguard.BudgetExceededError` is raised right after, exactly as for an LLM call that crosses one.
        A shared guard settles it in the store in one atomic operation (parked, never lost, when the store is
        unavailable).

        Raises:
            ConfigError: the arguments are invalid.
            BudgetExceededError: a limit is reached after recording the cost.
        """
        if not isinstance(name, str) or not name:
            raise ConfigError(f"add_cost(name=...) must be a non-empty str, got {name!r}")
        if isinstance(usd, bool) or not isinstance(usd, (int, float)) or not usd >= 0 or math.isinf(usd):
            raise ConfigError(f"add_cost(usd=...) must be a finite number >= 0, got {usd!r}")
        guard: BudgetGuard | None = self
        while guard is not None:
            with guard._lock:
                guard._ledger.usd += usd
                guard._ledger.costs[name] = guard._ledger.costs.get(name, 0.0) + usd
            if guard.shared:
                guard._add_shared_cost(float(usd))
            guard = guard._parent
        guard = self
        while guard is not None:  # the totals just settled: no second round trip
            if guard.usd_limit is not None or guard.token_limit is not None:
                error = guard._over(*guard._totals(fresh=False))
                if error is not None:
                    guard._emit_exceeded(error)
                    raise error
            guard = guard._parent

    def _add_shared_cost(self, usd: float) -> None:
        """add_cost under a shared guard: its own settle, never this context's pending LLM-call reservation."""
        totals = _shared.settle(self._get_store(), self._shared_key, _shared.new_op_id(), usd, 0, self.window)
        seen = self._shared_seen
        self._shared_seen = totals if totals is not None else SpendTotals(seen.usd + usd, seen.tokens)

    def _emit_exceeded(self, error: BudgetExceededError, *, strict: bool = False) -> None:
        emit(
            "budget",
            "budget_exceeded",
            "blocked",
            user_id=self.user_id,
            payload={
                "guard": self.name,
                "limit_type": error.limit_type,
                "limit": error.limit,
                "used": error.used,
                "strict": strict,
                "shared": self.shared,
            },
        )

    def __repr__(self) -> str:
        return (
            f"BudgetGuard(user_id={self.user_id!r}, usd_limit={self.usd_limit!r}, token_limit={self.token_limit!r}, "
            f"usd_used={self.usd_used:.6f}, tokens_used={self.tokens_used})"
        )


def _emit_recorded(
    usage: LLMUsage, call_id: str | None, charges: list[tuple[BudgetGuard, float | None]], reported: bool
) -> None:
    """One event for one record: about the first guard of the chain the user can see (not an adapter's internal
    one), naming every such guard it charged; nothing when that guard had the call already."""
    visible = [(guard, charged) for guard, charged in charges if not guard._internal]
    if not visible or visible[0][1] is None:
        return
    lead, usd = visible[0]
    emit(
        "budget",
        "llm_call",
        "charged" if reported else "recorded",
        user_id=lead.user_id,
        payload={
            "guard": lead.name,
            "guards": [guard.name for guard, charged in visible if charged is not None],
            "model": usage.model,
            "provider": usage.provider,
            "call_id": call_id,
            "usd": usd,
            "input_tokens": usage.input_tokens,
            "cached_input_tokens": usage.cached_input_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
            "output_tokens": usage.output_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
            **{name: getattr(usage, name) for name in BILLED_DETAILS},
            "usd_used": lead._ledger.usd,
            "tokens_used": lead._ledger.tokens,
        },
    )
