"""The store interface: the atomic operations the guards need.

Guards never keep their own dicts; they call one of these operations, each atomic on its backend. Memory, SQLite
and Redis implement the same operations and pass the same contract suite (``tests/core/stores``). Every key a
store keeps expires (rate windows after their period, facts and claims after their TTL) and is evicted.

Time belongs to the store: memory uses the process's monotonic clock (injectable), SQLite the host's wall clock,
Redis the server's clock. So a check compares timestamps from one clock only.

Each operation has an ``a``-prefixed async twin. The defaults here call the sync one, which is right for
in-process backends; network backends override them with real async I/O.

When the backend cannot be reached, an operation raises :class:`actguard.StoreUnavailable` (never a raw driver
error) -- unless the store was built with ``fail_open`` naming the guard kind the operation serves
(``"rate_limit"``: :meth:`Store.hit_window`; ``"circuit_breaker"``: the ``breaker_*`` operations), in which case it
answers "allowed" and reports the outage (a ``store`` event and a log warning). Budgets (spend), idempotency,
max_attempts counters and chain-of-custody facts always fail closed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Literal, NamedTuple, NoReturn, TypeVar

from actguard.exceptions import ConfigError, StoreUnavailable
from actguard.reporting import emit

__all__ = [
    "FAIL_OPEN_KINDS",
    "BreakerDecision",
    "BreakerSnapshot",
    "Claim",
    "FailOpenKind",
    "FIRST_CALL",
    "LoopStep",
    "Reservation",
    "SpendTotals",
    "Store",
    "WindowDecision",
    "parse_fail_open",
    "refused",
]

_T = TypeVar("_T")

FailOpenKind = Literal["rate_limit", "circuit_breaker"]
FAIL_OPEN_KINDS: tuple[FailOpenKind, ...] = ("rate_limit", "circuit_breaker")
"""The guard kinds whose store operations may fail open; every other kind always fails closed."""


def parse_fail_open(value: bool | Iterable[str], where: str) -> frozenset[str]:
    """Validate a ``fail_open`` argument: ``False`` (fail closed: the default), ``True`` (rate limits and circuit
    breakers fail open), or a collection naming some of ``"rate_limit"``, ``"circuit_breaker"``."""
    if value is True:
        return frozenset(FAIL_OPEN_KINDS)
    if value is False:
        return frozenset()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f"{where} must be True, False or a collection of {list(FAIL_OPEN_KINDS)!r}, got {value!r}")
    kinds = frozenset(value)
    unknown = sorted(k for k in kinds if k not in FAIL_OPEN_KINDS)
    if unknown:
        raise ConfigError(
            f"{where} accepts only {list(FAIL_OPEN_KINDS)!r} (budgets, idempotency, max_attempts and facts always "
            f"fail closed), got {unknown!r}"
        )
    return kinds


class WindowDecision(NamedTuple):
    """Result of :meth:`Store.hit_window`."""

    allowed: bool
    count: int  # type: ignore[assignment]  # hits in the window after this one (admitted only); shadows tuple.count
    retry_after: float  # seconds until a slot frees; 0.0 when allowed


class BreakerDecision(NamedTuple):
    """Result of :meth:`Store.breaker_acquire`."""

    allowed: bool
    probe: bool  # True: this call is the single half-open probe
    retry_after: float  # seconds until a probe may go through; 0.0 when allowed
    failures: int  # consecutive counted failures so far


class BreakerSnapshot(NamedTuple):
    """Observable state of one circuit."""

    state: Literal["closed", "open", "half_open"]
    failures: int
    retry_after: float


ClaimStatus = Literal["claimed", "in_progress", "done", "unknown"]


class Claim(NamedTuple):
    """Result of :meth:`Store.idem_claim`.

    ``claimed``: the caller owns the key and must complete, release or mark it unknown.
    ``in_progress``: another caller owns it now. ``done``: ``result`` holds the stored result.
    ``unknown``: an earlier call failed with an unknown outcome; ``retry_after`` says when the key expires.
    """

    status: ClaimStatus
    result: Any = None
    retry_after: float = 0.0


class SpendTotals(NamedTuple):
    """Accumulated spend under one key."""

    usd: float
    tokens: int


class LoopStep(NamedTuple):
    """Result of :meth:`Store.loop_observe`: how often this call was seen in the run, and the run's recent calls.

    (Like every result here a NamedTuple: cheap to build, and no `dataclasses` import at `import actguard`.)
    """

    seen: int  # times this call was observed in the run, this one included
    # The run's last calls (the entries as given), oldest first, ending with this one; () for a first call.
    recent: tuple[Hashable, ...]


#: The step of a call not seen before in its run. A store may return this very object for one (the in-process store
#: does), so a guard can tell the common case by identity.
FIRST_CALL = LoopStep(1, ())


def refused(total: float, amount: float, limit: float | None) -> bool:
    """Whether a reservation of ``amount`` on ``total`` (spend + live reservations) is refused under ``limit``: it
    would cross it, or the total is already at it."""
    return limit is not None and (total + amount > limit or total >= limit)


class Reservation(NamedTuple):
    """Result of :meth:`Store.spend_reserve`: whether the reservation was granted, and the spend plus live
    reservations under the key (including this one when granted)."""

    granted: bool
    usd: float
    tokens: int


class Store(ABC):
    """Atomic state operations shared by every guard. See the module docstring."""

    #: Guard kinds (``"rate_limit"``, ``"circuit_breaker"``) whose operations answer "allowed" when the backend is
    #: unreachable. Empty: everything fails closed with :class:`actguard.StoreUnavailable`.
    fail_open: frozenset[str] = frozenset()
    #: Short backend name used in :class:`actguard.StoreUnavailable` and events.
    backend: str = "memory"

    def _unavailable(self, operation: str, cause: BaseException) -> NoReturn:
        """Raise :class:`StoreUnavailable` for ``cause`` (a driver error), reporting it."""
        emit("store", operation, "unavailable", payload={"store": self.backend, "error": repr(cause)})
        raise StoreUnavailable(self.backend, operation, cause) from cause

    def _degrade(self, kind: FailOpenKind, operation: str, cause: BaseException, fallback: _T) -> _T:
        """Fail open with ``fallback`` when ``kind`` is in :attr:`fail_open`; otherwise raise StoreUnavailable."""
        if kind not in self.fail_open:
            self._unavailable(operation, cause)
        import logging  # here: only an outage logs, and logging is a good part of `import actguard`

        logging.getLogger("actguard.stores").warning(
            "%s store unavailable during %s; %s fails open: %r", self.backend, operation, kind, cause
        )
        emit("store", operation, "fail_open", payload={"store": self.backend, "guard": kind, "error": repr(cause)})
        return fallback

    # -- rate limits: sliding window log ------------------------------------------------------------------------
    @abstractmethod
    def hit_window(self, key: str, limit: int, period: float) -> WindowDecision:
        """Admit one hit if fewer than ``limit`` hits were admitted in the last ``period`` seconds.

        Only admitted hits are recorded. ``retry_after`` is the time until the oldest admitted hit leaves the window.
        """

    # -- circuit breakers ---------------------------------------------------------------------------------------
    @abstractmethod
    def breaker_acquire(self, key: str, reset_timeout: float) -> BreakerDecision:
        """Ask to make a call. Closed: allowed. Open and reset_timeout elapsed: exactly one caller gets the probe.

        A probe that reports nothing (no record, no release) within ``reset_timeout`` is presumed lost (its worker
        died), and the next caller gets a new probe, so a crashed worker cannot keep a shared circuit open forever.
        """

    @abstractmethod
    def breaker_record(
        self, key: str, *, success: bool, probe: bool, max_fails: int, reset_timeout: float
    ) -> BreakerSnapshot:
        """Record a call's outcome. A success closes and resets; the max_fails-th consecutive failure (or a
        failed probe) opens the circuit for ``reset_timeout`` seconds."""

    @abstractmethod
    def breaker_release(self, key: str, *, probe: bool) -> None:
        """The call ended with an outcome that does not count either way; a probe slot is handed back."""

    @abstractmethod
    def breaker_snapshot(self, key: str, reset_timeout: float) -> BreakerSnapshot:
        """The circuit's state, without changing it."""

    # -- counters (max_attempts) --------------------------------------------------------------------------------
    @abstractmethod
    def incr(self, key: str, ttl: float) -> int:
        """Add one to a counter that expires ``ttl`` seconds after its first increment; return the new value."""

    # -- idempotency --------------------------------------------------------------------------------------------
    @abstractmethod
    def idem_claim(self, key: str, ttl: float, owner: str = "") -> Claim:
        """Claim ``key`` for a first execution, or report its state. A fresh claim lives ``ttl`` seconds.

        ``owner`` (an operation id) makes a claim repeatable: a claim still in progress under the same non-empty
        owner is ``claimed`` again. A caller whose claim may or may not have reached the store (a timeout) repeats
        it with the same owner instead of being refused by its own lost claim.
        """

    @abstractmethod
    def idem_complete(self, key: str, result: Any, ttl: float) -> None:
        """Store the result of the claimed execution; duplicates within ``ttl`` get it back."""

    @abstractmethod
    def idem_release(self, key: str) -> None:
        """Forget the key (the claimed call failed safely); the next call runs again."""

    @abstractmethod
    def idem_mark_unknown(self, key: str, ttl: float) -> None:
        """The claimed call failed with effects unknown; refuse the key until ``ttl`` ends."""

    # -- chain of custody facts ---------------------------------------------------------------------------------
    @abstractmethod
    def facts_add(self, namespace: str, kind: str, values: Iterable[str], ttl: float) -> None:
        """Record ``(kind, value)`` facts in ``namespace`` (a session + scope), each expiring after ``ttl``."""

    @abstractmethod
    def facts_missing(self, namespace: str, kind: str, values: Sequence[str]) -> list[str]:
        """The ``values`` not (or no longer) proven as ``kind`` in ``namespace``, in input order."""

    @abstractmethod
    def facts_clear(self, namespace: str) -> None:
        """Drop every fact of ``namespace``."""

    # -- spend (budgets shared across processes) ----------------------------------------------------------------
    @abstractmethod
    def spend_add(self, key: str, usd: float, tokens: int, ttl: float | None) -> SpendTotals:
        """Add to the spend under ``key`` (expiring ``ttl`` seconds after its first addition) and return totals."""

    @abstractmethod
    def spend_get(self, key: str) -> SpendTotals:
        """The spend under ``key`` (zero when absent or expired); live reservations are not included."""

    @abstractmethod
    def spend_reserve(
        self,
        key: str,
        op_id: str,
        usd: float,
        tokens: int,
        *,
        usd_limit: float | None,
        token_limit: int | None,
        ttl: float | None,
        lease: float,
    ) -> Reservation:
        """Atomically reserve ``usd`` / ``tokens`` under ``key`` if spend + live reservations + this one stay within
        the limits (``None``: no limit of that kind). A granted reservation lives ``lease`` seconds unless settled
        first, so a worker that dies holding one never blocks the budget for longer than that. Reserving again
        under the same ``op_id`` replaces the reservation (never counts it twice)."""

    @abstractmethod
    def spend_settle(self, key: str, op_id: str, usd: float, tokens: int, ttl: float | None) -> SpendTotals:
        """Drop the reservation ``op_id`` (if any) and add the actual spend, in one atomic step; return totals.

        Applied at most once per ``op_id``: a settle repeated after a timeout whose outcome was unknown is not
        counted twice (Redis remembers settled ids for a while; SQLite and memory never apply a failed one).
        """

    # -- loop detection (loop_guard) ----------------------------------------------------------------------------
    def loop_observe(self, key: str, entry: str, keep: int, ttl: float) -> LoopStep:
        """Record one call ``entry`` in the run ``key``: count it, append it to the run's recent calls.

        Returns how often the call was seen in the run (``seen``) and, when it was seen before (a first call can
        close no cycle, so the common case skips the copy), the run's last ``keep`` calls (``keep`` <= 32: a store
        keeps the last 32).
        The whole record of a run (every call's count and the recent calls) expires ``ttl`` seconds after the run's
        first observed call. Stores that predate loop detection raise ``NotImplementedError``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement loop_observe (needed by loop_guard)")

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Release connections. The default does nothing."""

    # -- async twins --------------------------------------------------------------------------------------------
    async def ahit_window(self, key: str, limit: int, period: float) -> WindowDecision:
        return self.hit_window(key, limit, period)

    async def abreaker_acquire(self, key: str, reset_timeout: float) -> BreakerDecision:
        return self.breaker_acquire(key, reset_timeout)

    async def abreaker_record(
        self, key: str, *, success: bool, probe: bool, max_fails: int, reset_timeout: float
    ) -> BreakerSnapshot:
        return self.breaker_record(key, success=success, probe=probe, max_fails=max_fails, reset_timeout=reset_timeout)

    async def abreaker_release(self, key: str, *, probe: bool) -> None:
        self.breaker_release(key, probe=probe)

    async def aincr(self, key: str, ttl: float) -> int:
        return self.incr(key, ttl)

    async def aidem_claim(self, key: str, ttl: float, owner: str = "") -> Claim:
        return self.idem_claim(key, ttl, owner)

    async def aidem_complete(self, key: str, result: Any, ttl: float) -> None:
        self.idem_complete(key, result, ttl)

    async def aidem_release(self, key: str) -> None:
        self.idem_release(key)

    async def aidem_mark_unknown(self, key: str, ttl: float) -> None:
        self.idem_mark_unknown(key, ttl)

    async def afacts_add(self, namespace: str, kind: str, values: Iterable[str], ttl: float) -> None:
        self.facts_add(namespace, kind, values, ttl)

    async def afacts_missing(self, namespace: str, kind: str, values: Sequence[str]) -> list[str]:
        return self.facts_missing(namespace, kind, values)

    async def afacts_clear(self, namespace: str) -> None:
        self.facts_clear(namespace)

    async def abreaker_snapshot(self, key: str, reset_timeout: float) -> BreakerSnapshot:
        return self.breaker_snapshot(key, reset_timeout)

    async def aclose(self) -> None:
        """Release connections (async clients too). The default calls :meth:`close`."""
        self.close()

    async def aloop_observe(self, key: str, entry: str, keep: int, ttl: float) -> LoopStep:
        return self.loop_observe(key, entry, keep, ttl)

    async def aspend_add(self, key: str, usd: float, tokens: int, ttl: float | None) -> SpendTotals:
        return self.spend_add(key, usd, tokens, ttl)

    async def aspend_get(self, key: str) -> SpendTotals:
        return self.spend_get(key)

    async def aspend_reserve(
        self,
        key: str,
        op_id: str,
        usd: float,
        tokens: int,
        *,
        usd_limit: float | None,
        token_limit: int | None,
        ttl: float | None,
        lease: float,
    ) -> Reservation:
        return self.spend_reserve(
            key, op_id, usd, tokens, usd_limit=usd_limit, token_limit=token_limit, ttl=ttl, lease=lease
        )

    async def aspend_settle(self, key: str, op_id: str, usd: float, tokens: int, ttl: float | None) -> SpendTotals:
        return self.spend_settle(key, op_id, usd, tokens, ttl)
