"""The shared-budget path of BudgetGuard: reservations before calls, settles after, and the spend outbox.

Only guards with ``shared=True`` come here; a per-process guard never touches a store.

- **Reserve, then settle.** Before an LLM call each shared guard reserves the call's worst case in one atomic store
  operation, refused when spend + live reservations + this one would cross a limit. After the call the reservation
  is settled to the metered cost (one operation that drops the reservation and adds the spend). A reservation lives
  :data:`RESERVATION_LEASE` seconds unless settled: a worker that dies holding one blocks nothing after that.
- **Spend is never lost.** A settle the store could not take (unreachable, write-locked) is parked in a process-wide
  outbox under its operation id, counted by this process's checks (so they fail closed on it), and settled again
  at the next shared check of that store and at interpreter exit. Repeating a settle never counts it twice (Redis
  remembers settled ids; a failed SQLite transaction changed nothing). What still cannot be delivered at exit is
  reported: an ``ActGuardWarning`` and a ``budget`` event naming the amount.
- **Never on the event loop.** From async code, every step of a guard chain with a shared guard in it (the check and
  reservation before a call, the record and settle after it, guard exit) runs the same sync method in a worker
  thread (:func:`off_loop`), so a slow or stalled store holds up that one call, never the loop's other tasks.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import functools
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from actguard.exceptions import ActGuardWarning, StoreUnavailable
from actguard.reporting import emit
from actguard.stores import Store
from actguard.stores._base import Reservation, SpendTotals
from actguard.stores._opid import new_op_id

__all__ = [
    "DEFAULT_RESERVE_OUTPUT_TOKENS",
    "OUTBOX",
    "RESERVATION_LEASE",
    "Outbox",
    "ParkedSpend",
    "new_op_id",
    "off_loop",
    "reserve",
    "settle",
]

DEFAULT_RESERVE_OUTPUT_TOKENS = 4096
"""Output tokens reserved for a call that names no max output tokens (override with ``BudgetGuard(reserve=...)``)."""

RESERVATION_LEASE = 900.0
"""Seconds a reservation holds budget unless settled first (longer than any LLM call should take)."""

R = TypeVar("R")
_OUTBOX_MAX = 10_000  # parked settles kept per process; beyond it the oldest is reported and dropped


@dataclass(frozen=True, slots=True)
class ParkedSpend:
    """One settle the store could not take yet."""

    store: Store
    key: str
    op_id: str
    usd: float
    tokens: int
    ttl: float | None


class Outbox:
    """Process-wide parked spend, flushed on recovery and at interpreter exit. Thread-safe and bounded."""

    def __init__(self, max_entries: int = _OUTBOX_MAX) -> None:
        self._entries: OrderedDict[str, ParkedSpend] = OrderedDict()  # op_id -> entry, oldest first
        self._lock = threading.Lock()
        self._max = max_entries

    def __len__(self) -> int:
        return len(self._entries)

    def park(self, entry: ParkedSpend) -> None:
        """Keep ``entry`` until a flush delivers it (the oldest is dropped, and reported, beyond the bound)."""
        with self._lock:
            self._entries[entry.op_id] = entry
            dropped = self._entries.popitem(last=False)[1] if len(self._entries) > self._max else None
        if dropped is not None:
            _report_lost([dropped], "the outbox of parked spend is full")

    def parked(self, store: Store, key: str) -> tuple[float, int]:
        """USD and tokens parked for ``key`` on ``store``."""
        if not self._entries:
            return 0.0, 0
        with self._lock:
            entries = [e for e in self._entries.values() if e.store is store and e.key == key]
        return sum(e.usd for e in entries), sum(e.tokens for e in entries)

    def flush(self, store: Store | None = None) -> bool:
        """Settle every parked entry (of ``store``, or of every store); stop at a store that is still unavailable.

        Returns:
            True when nothing (of ``store``) is left parked.
        """
        if not self._entries:
            return True
        with self._lock:
            entries = [e for e in self._entries.values() if store is None or e.store is store]
        failed: set[int] = set()
        for entry in entries:
            if id(entry.store) in failed:
                continue
            try:
                entry.store.spend_settle(entry.key, entry.op_id, entry.usd, entry.tokens, entry.ttl)
            except StoreUnavailable:
                failed.add(id(entry.store))
                continue
            with self._lock:
                self._entries.pop(entry.op_id, None)
        return not failed

    def clear(self) -> list[ParkedSpend]:
        """Forget every parked entry and return them (for tests)."""
        with self._lock:
            left, self._entries = list(self._entries.values()), OrderedDict()
        return left

    def drain_at_exit(self) -> None:
        """Last delivery attempt; what remains is reported as lost."""
        self.flush()
        left = self.clear()
        if left:
            _report_lost(left, "the store was still unavailable at interpreter exit")


def _report_lost(entries: list[ParkedSpend], why: str) -> None:
    usd = sum(e.usd for e in entries)
    tokens = sum(e.tokens for e in entries)
    keys = sorted({e.key for e in entries})
    message = (
        f"actguard could not deliver ${usd:.6f} and {tokens} tokens of shared-budget spend to the store ({why}); "
        f"keys: {', '.join(keys)}"
    )
    import logging  # only here: `import actguard` stays free of logging (tests/core/test_import.py)

    logging.getLogger("actguard.budget").error("%s", message)
    with contextlib.suppress(Exception):  # warnings turned into errors must not make record() raise
        warnings.warn(message, ActGuardWarning, stacklevel=2)
    emit(
        "budget",
        "spend_undelivered",
        "lost",
        payload={"usd": usd, "tokens": tokens, "keys": keys, "entries": len(entries), "reason": why},
    )


OUTBOX = Outbox()
atexit.register(OUTBOX.drain_at_exit)


def settle(store: Store, key: str, op_id: str, usd: float, tokens: int, ttl: float | None) -> SpendTotals | None:
    """Settle spend (dropping the reservation ``op_id``); park it when the store cannot take it (returns None)."""
    if OUTBOX:
        OUTBOX.flush(store)  # older spend first, so the totals returned include it
    try:
        return store.spend_settle(key, op_id, usd, tokens, ttl)
    except StoreUnavailable:
        OUTBOX.park(ParkedSpend(store, key, op_id, usd, tokens, ttl))
        return None


def reserve(
    store: Store,
    key: str,
    op_id: str,
    usd: float,
    tokens: int,
    *,
    usd_limit: float | None,
    token_limit: int | None,
    ttl: float | None,
) -> Reservation:
    """Reserve a call's worst case under ``key`` as ``op_id``; returns the store's answer.

    Spend parked in this process counts against the limits too. Raises StoreUnavailable (fail closed).
    """
    if OUTBOX:
        OUTBOX.flush(store)
    parked_usd, parked_tokens = OUTBOX.parked(store, key)
    return store.spend_reserve(
        key,
        op_id,
        usd + parked_usd,
        tokens + parked_tokens,
        usd_limit=usd_limit,
        token_limit=token_limit,
        ttl=ttl,
        lease=RESERVATION_LEASE,
    )


_UNSET: Any = object()


async def off_loop(fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> R:
    """Run the sync step ``fn(*args, **kwargs)`` in the loop's default executor (as :func:`asyncio.to_thread`) and
    return its result, so the event loop keeps running while it waits on a store.

    It runs in a copy of this task's context, and what it changed there (the reservation this task's call now holds,
    the totals a settle just returned, the calls it metered) is set here too when it ends, as if it had run in the
    task: the task does not run meanwhile, so those are the only changes. Cancelled while it runs, the task keeps
    none of them: the step still ends in its thread, and a reservation it took is on the guard's outstanding list,
    settled by the guard's next record or at its exit. Outside asyncio (trio) the step runs right here.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # another event loop (trio, say): the step runs here, as it always did
        return fn(*args, **kwargs)
    ctx = contextvars.copy_context()
    future = loop.run_in_executor(None, functools.partial(ctx.run, fn, *args, **kwargs))
    try:
        return await future
    finally:
        if future.done() and not future.cancelled():  # returned or raised (a refusal, StoreUnavailable)
            for var, value in ctx.items():
                if var.get(_UNSET) is not value:
                    var.set(value)
