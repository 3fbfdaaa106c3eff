"""In-process store: the default. Exact under threads; state is lost when the process ends."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from actguard._clock import SYSTEM_CLOCK, Clock
from actguard.exceptions import ConfigError
from actguard.stores._base import (
    FIRST_CALL,
    BreakerDecision,
    BreakerSnapshot,
    Claim,
    LoopStep,
    Reservation,
    SpendTotals,
    Store,
    WindowDecision,
)
from actguard.stores._base import refused as _refused

__all__ = ["MemoryStore"]

_LOOP_RECENT = 32  # recent calls kept per run (loop_observe's keep is at most this)
_SWEEP_EVERY = 4096  # writes between sweeps of expired entries (amortised O(1) eviction)

# Immutable results shared by every call: building a frozen dataclass costs more than the rest of a hot operation.
_ADMITTED = tuple(WindowDecision(True, n, 0.0) for n in range(1025))
_CLOSED = BreakerDecision(True, False, 0.0, 0)
_CLOSED_SNAPSHOT = BreakerSnapshot("closed", 0, 0.0)
_CLAIMED = Claim("claimed")
_IN_PROGRESS = Claim("in_progress")
# A run's (expires_at, call -> count, recent calls): a bounded deque trims itself in C, no check per call.
_LoopRecord = tuple[float, dict[Hashable, int], deque[Hashable]]


class MemoryStore(Store):
    """Keeps guard state in this process's memory.

    Args:
        clock: time source (``actguard.testing.FakeClock`` in tests).
        max_keys: bound on entries per kind of state (and on facts per namespace, calls per loop run). The
            entry that would pass it evicts the oldest entries, an eighth of ``max_keys`` at once (cheaper than one
            at a time), so a full table holds between 7/8 of ``max_keys`` and ``max_keys``, always the newest.
            Expired entries are also swept every few thousand writes. Rate windows and facts of evicted keys are
            forgotten, so keep it above 8/7 of the number of live keys you expect.
    """

    def __init__(self, clock: Clock = SYSTEM_CLOCK, *, max_keys: int = 100_000) -> None:
        if not isinstance(max_keys, int) or isinstance(max_keys, bool) or max_keys < 1:
            raise ConfigError(f"MemoryStore(max_keys=...) must be an int >= 1, got {max_keys!r}")
        self._now = time.monotonic if clock is SYSTEM_CLOCK else clock.monotonic  # one call less on hot paths
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {}
        self._window_expiry: dict[str, float] = {}
        self._breakers: dict[str, list[Any]] = {}  # key -> [failures, opened_at | None, probe_started_at | None]
        self._counters: dict[str, list[float]] = {}  # key -> [value, expires_at]
        self._claims: dict[str, tuple[str, Any, float]] = {}  # key -> (status, result, expires_at)
        self._facts: dict[str, dict[tuple[str, str], float]] = {}  # namespace -> (kind, value) -> expires_at
        self._spend: dict[str, list[float]] = {}  # key -> [usd, tokens, expires_at]
        self._reserved: dict[str, dict[str, tuple[float, int, float]]] = {}  # key -> op_id -> (usd, tokens, until)
        self._writes = 0
        self._loops: dict[str, _LoopRecord] = {}  # run -> (expires_at, counts, recent)

    def __repr__(self) -> str:
        return f"MemoryStore(max_keys={self.max_keys})"

    # -- eviction -----------------------------------------------------------------------------------------------
    def _maybe_sweep(self, now: float) -> None:
        self._writes += 1
        if self._writes % _SWEEP_EVERY:
            return
        self.sweep(now)

    def sweep(self, now: float | None = None) -> None:
        """Evict every expired entry now (also runs by itself every few thousand writes)."""
        if now is None:
            now = self._now()
        for key in [k for k, exp in self._window_expiry.items() if exp <= now]:
            del self._window_expiry[key]
            self._windows.pop(key, None)
        for key in [k for k, c in self._counters.items() if c[1] <= now]:
            del self._counters[key]
        for key in [k for k, c in self._claims.items() if c[2] <= now]:
            del self._claims[key]
        for key in [k for k, s in self._spend.items() if s[2] <= now]:
            del self._spend[key]
        for key in list(self._reserved):
            self._live_reservations(key, now)
        for ns in list(self._facts):
            facts = self._facts[ns]
            for fact in [f for f, exp in facts.items() if exp <= now]:
                del facts[fact]
            if not facts:
                del self._facts[ns]

    def _bound(self, table: dict[Any, Any], extra: dict[Any, Any] | None = None) -> None:
        """Past max_keys, drop the oldest keys of ``table`` (and the same keys of ``extra``) down to 7/8 of it.

        In batches: popping one key at a time from the front of a dict costs more the more keys were popped before
        (iteration skips the deleted slots left at the front until the next resize), so a store at its cap would
        pay that on every new key; a batch keeps eviction amortised O(1) per new key. The newest key always stays.
        """
        if len(table) <= self.max_keys:
            return
        keep = self.max_keys - self.max_keys // 8
        for oldest in list(itertools.islice(table, len(table) - keep)):
            del table[oldest]
            if extra is not None:
                extra.pop(oldest, None)

    # -- rate limits --------------------------------------------------------------------------------------------
    def hit_window(self, key: str, limit: int, period: float) -> WindowDecision:
        with self._lock:
            now = self._now()
            hits = self._windows.get(key)
            if hits is None:
                hits = self._windows[key] = deque()
                self._maybe_sweep(now)
                self._bound(self._windows, self._window_expiry)
            start = now - period
            while hits and hits[0] <= start:
                hits.popleft()
            if len(hits) >= limit:
                return WindowDecision(False, len(hits), hits[len(hits) - limit] + period - now)
            hits.append(now)
            self._window_expiry[key] = now + period
            count = len(hits)
            return _ADMITTED[count] if count < 1025 else WindowDecision(True, count, 0.0)

    # -- circuit breakers ---------------------------------------------------------------------------------------
    def breaker_acquire(self, key: str, reset_timeout: float) -> BreakerDecision:
        with self._lock:
            state = self._breakers.get(key)
            if state is None:
                return _CLOSED
            if state[1] is None:
                return BreakerDecision(True, False, 0.0, state[0])
            failures, opened_at, probe_at = state
            now = self._now()
            remaining = opened_at + reset_timeout - now
            lease = probe_at + reset_timeout - now if probe_at is not None else 0.0
            if remaining > 0 or lease > 0:
                return BreakerDecision(False, False, max(remaining, lease, 0.0), failures)
            state[2] = now
            return BreakerDecision(True, True, 0.0, failures)

    def breaker_record(
        self, key: str, *, success: bool, probe: bool, max_fails: int, reset_timeout: float
    ) -> BreakerSnapshot:
        with self._lock:
            if success:
                self._breakers.pop(key, None)
                return _CLOSED_SNAPSHOT
            now = self._now()
            state = self._breakers.get(key)
            if state is None:
                state = self._breakers[key] = [0, None, None]
                self._bound(self._breakers)
            state[0] += 1
            if probe:
                state[2] = None
            if probe or (state[1] is None and state[0] >= max_fails):
                state[1] = now
            if state[1] is None:
                return BreakerSnapshot("closed", state[0], 0.0)
            return BreakerSnapshot("open", state[0], max(state[1] + reset_timeout - now, 0.0))

    def breaker_release(self, key: str, *, probe: bool) -> None:
        if not probe:
            return
        with self._lock:
            state = self._breakers.get(key)
            if state is not None:
                state[2] = None

    def breaker_snapshot(self, key: str, reset_timeout: float) -> BreakerSnapshot:
        with self._lock:
            state = self._breakers.get(key)
            if state is None:
                return _CLOSED_SNAPSHOT
            failures, opened_at, _probing = state
            if opened_at is None:
                return BreakerSnapshot("closed", failures, 0.0)
            remaining = opened_at + reset_timeout - self._now()
            if remaining > 0:
                return BreakerSnapshot("open", failures, remaining)
            return BreakerSnapshot("half_open", failures, 0.0)

    # -- counters -----------------------------------------------------------------------------------------------
    def incr(self, key: str, ttl: float) -> int:
        with self._lock:
            now = self._now()
            entry = self._counters.get(key)
            if entry is None or entry[1] <= now:
                self._maybe_sweep(now)
                self._counters[key] = [1, now + ttl]
                self._bound(self._counters)
                return 1
            entry[0] += 1
            return int(entry[0])

    # -- idempotency --------------------------------------------------------------------------------------------
    def idem_claim(self, key: str, ttl: float, owner: str = "") -> Claim:
        with self._lock:
            now = self._now()
            entry = self._claims.get(key)
            if entry is None or entry[2] <= now:
                self._maybe_sweep(now)
                self._claims[key] = ("in_progress", owner, now + ttl)  # an in-progress claim keeps its owner
                self._bound(self._claims)
                return _CLAIMED
            status, result, expires_at = entry
            if status == "in_progress" and owner and result == owner:
                return _CLAIMED
            if status == "done":
                return Claim("done", result)
            if status == "unknown":
                return Claim("unknown", retry_after=expires_at - now)
            return _IN_PROGRESS

    def idem_complete(self, key: str, result: Any, ttl: float) -> None:
        with self._lock:
            self._claims[key] = ("done", result, self._now() + ttl)
            self._bound(self._claims)  # a claim evicted (or released) meanwhile comes back as a new key

    def idem_release(self, key: str) -> None:
        with self._lock:
            self._claims.pop(key, None)

    def idem_mark_unknown(self, key: str, ttl: float) -> None:
        with self._lock:
            self._claims[key] = ("unknown", None, self._now() + ttl)
            self._bound(self._claims)

    # -- facts --------------------------------------------------------------------------------------------------
    def facts_add(self, namespace: str, kind: str, values: Iterable[str], ttl: float) -> None:
        with self._lock:
            now = self._now()
            self._maybe_sweep(now)
            facts = self._facts.get(namespace)
            if facts is None:
                facts = self._facts[namespace] = {}
                self._bound(self._facts)
            expires_at = now + ttl
            for value in values:
                facts.pop((kind, value), None)  # re-proving refreshes the fact's age for eviction
                facts[(kind, value)] = expires_at
            self._bound(facts)

    def facts_missing(self, namespace: str, kind: str, values: Sequence[str]) -> list[str]:
        with self._lock:
            now = self._now()
            facts = self._facts.get(namespace)
            if facts is None:
                return list(values)
            missing = []
            for value in values:
                exp = facts.get((kind, value))
                if exp is None or exp <= now:
                    missing.append(value)
            return missing

    def facts_clear(self, namespace: str) -> None:
        with self._lock:
            self._facts.pop(namespace, None)

    # -- spend --------------------------------------------------------------------------------------------------
    def spend_add(self, key: str, usd: float, tokens: int, ttl: float | None) -> SpendTotals:
        with self._lock:
            return self._add_spend(key, usd, tokens, ttl)

    def _add_spend(self, key: str, usd: float, tokens: int, ttl: float | None) -> SpendTotals:
        now = self._now()
        entry = self._spend.get(key)
        if entry is None or entry[2] <= now:
            self._maybe_sweep(now)
            entry = self._spend[key] = [0.0, 0, now + ttl if ttl is not None else float("inf")]
            self._bound(self._spend)
        entry[0] += usd
        entry[1] += tokens
        return SpendTotals(entry[0], int(entry[1]))

    def _live_reservations(self, key: str, now: float) -> dict[str, tuple[float, int, float]]:
        """The unexpired reservations under ``key`` (expired ones are dropped here)."""
        held = self._reserved.get(key)
        if held is None:
            return {}
        for op_id in [o for o, r in held.items() if r[2] <= now]:
            del held[op_id]
        if not held:
            del self._reserved[key]
        return held

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
        with self._lock:
            now = self._now()
            entry = self._spend.get(key)
            spent_usd, spent_tokens = (0.0, 0) if entry is None or entry[2] <= now else (entry[0], int(entry[1]))
            held = self._live_reservations(key, now)
            held.pop(op_id, None)
            total_usd = spent_usd + sum(r[0] for r in held.values())
            total_tokens = spent_tokens + sum(r[1] for r in held.values())
            if _refused(total_usd, usd, usd_limit) or _refused(total_tokens, tokens, token_limit):
                return Reservation(False, total_usd, total_tokens)
            self._reserved.setdefault(key, held)[op_id] = (usd, tokens, now + lease)
            self._bound(self._reserved)
            return Reservation(True, total_usd + usd, total_tokens + tokens)

    def spend_settle(self, key: str, op_id: str, usd: float, tokens: int, ttl: float | None) -> SpendTotals:
        with self._lock:
            held = self._reserved.get(key)
            if held is not None:
                held.pop(op_id, None)
                if not held:
                    del self._reserved[key]
            return self._add_spend(key, usd, tokens, ttl)  # under the same lock: no reserve sees neither

    def spend_get(self, key: str) -> SpendTotals:
        with self._lock:
            entry = self._spend.get(key)
            if entry is None or entry[2] <= self._now():
                return SpendTotals(0.0, 0)
            return SpendTotals(entry[0], int(entry[1]))

    # -- loop detection -----------------------------------------------------------------------------------------
    def loop_observe(self, key: str, entry: Hashable, keep: int, ttl: float) -> LoopStep:
        """See :meth:`Store.loop_observe`; ``entry`` may be any hashable here (loop_guard's in-process call keys)."""
        lock = self._lock
        lock.acquire()  # not ``with``: acquire/release is measurably cheaper on loop_guard's hot path
        try:
            loop = self._loops.get(key)
            if loop is None or loop[0] <= self._now():
                loop = self._new_loop(key, ttl)
            counts = loop[1]
            size = len(counts)
            count = counts.setdefault(entry, 1)  # a first call (the common case) costs one dict lookup
            loop[2].append(entry)
            if len(counts) > size:
                if size >= self.max_keys:
                    self._bound(counts)
                return FIRST_CALL
            count += 1
            counts[entry] = count
            return LoopStep(count, tuple(loop[2])[-keep:])
        finally:
            lock.release()

    def _new_loop(self, key: str, ttl: float) -> _LoopRecord:
        """Start the record of run ``key`` (replacing an expired one), sweeping expired runs now and then."""
        now = self._now()
        self._loops.pop(key, None)
        if len(self._loops) % 64 == 0:  # amortised: a run is created once for many calls
            for run in [k for k, v in self._loops.items() if v[0] <= now]:
                del self._loops[run]
        loop = self._loops[key] = (now + ttl, {}, deque(maxlen=_LOOP_RECENT))
        self._bound(self._loops)
        return loop
