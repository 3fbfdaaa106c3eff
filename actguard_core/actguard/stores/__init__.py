"""State stores: where guards keep what must outlive one call.

The default is an in-process :class:`MemoryStore`. Select another for the whole process with
:func:`set_default_store` (or ``actguard.configure(store=...)``), or per guard with its ``store=`` argument:

- :class:`MemoryStore`: one process (the default). Nothing is shared.
- :class:`SQLiteStore`: the processes of one host share one database file (WAL, one transaction per check).
- :class:`RedisStore`: a fleet shares one Redis (one Lua round trip per check, server time); ``actguard[redis]``.

What the shared stores share: rate-limit windows, circuit-breaker state, max_attempts counters, idempotency claims
and results (JSON by default, see :mod:`actguard.stores._codec`), chain-of-custody facts, and budget spend with its
reservations (:meth:`Store.spend_reserve` / :meth:`Store.spend_settle`, each lease-bound). Any ``str`` is a valid key
or value on every store. No operation is ever sent twice by actguard: a ``RedisStore`` made from a URL does not retry
a command that may have reached the server, and a settle repeated after a lost reply carries its operation id.
When a shared store cannot be reached, each operation raises :class:`actguard.StoreUnavailable` (fail closed),
except rate limits and circuit breakers on a store built with ``fail_open=True`` (or naming them), which admit the
call and report the outage.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from actguard.exceptions import ConfigError
from actguard.stores._base import (
    BreakerDecision,
    BreakerSnapshot,
    Claim,
    LoopStep,
    Reservation,
    SpendTotals,
    Store,
    WindowDecision,
)
from actguard.stores.memory import MemoryStore

if TYPE_CHECKING:
    from actguard.stores.redis import RedisStore
    from actguard.stores.sqlite import SQLiteStore

__all__ = [
    "BreakerDecision",
    "BreakerSnapshot",
    "Claim",
    "LoopStep",
    "MemoryStore",
    "RedisStore",
    "Reservation",
    "SQLiteStore",
    "SpendTotals",
    "Store",
    "WindowDecision",
    "get_default_store",
    "set_default_store",
]


def __getattr__(name: str) -> Any:
    # Imported when first used: sqlite3 and asyncio are most of `import actguard` otherwise.
    if name == "RedisStore":
        from actguard.stores.redis import RedisStore

        return RedisStore
    if name == "SQLiteStore":
        from actguard.stores.sqlite import SQLiteStore

        return SQLiteStore
    raise AttributeError(f"module 'actguard.stores' has no attribute {name!r}")


_default_store: Store | None = None
_default_lock = threading.Lock()


def get_default_store() -> Store:
    """The process-wide store used by guards that were not given one (a MemoryStore unless set)."""
    global _default_store
    store = _default_store
    if store is None:
        with _default_lock:
            if _default_store is None:
                _default_store = MemoryStore()
            store = _default_store
    return store


def set_default_store(store: Store | None) -> None:
    """Use ``store`` for every guard without its own; ``None`` goes back to a fresh in-process MemoryStore."""
    global _default_store
    if store is not None and not isinstance(store, Store):
        raise ConfigError(
            f"store must be an actguard Store (MemoryStore, SQLiteStore, RedisStore) or None, got {store!r}"
        )
    with _default_lock:
        _default_store = store
