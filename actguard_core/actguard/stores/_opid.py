"""Operation ids: unique across processes and hosts, cheap to make (a random per-process prefix and a counter).

A store operation that carries one can be repeated after a timeout without counting twice (settling spend), and a
claim can be taken again by the caller that may have taken it already (idempotency).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import OrderedDict

__all__ = ["LostClaims", "new_op_id"]

_prefix = os.urandom(8).hex()
_pid = os.getpid()
_counter = itertools.count()


def new_op_id() -> str:
    """A new operation id (a forked child draws a new prefix, so parent and child never collide)."""
    global _prefix, _pid, _counter
    if os.getpid() != _pid:
        _prefix, _pid, _counter = os.urandom(8).hex(), os.getpid(), itertools.count()
    return f"{_prefix}{next(_counter):x}"


class LostClaims:
    """Idempotency claims whose outcome is unknown (the store timed out), by key: the owner id to claim with again.

    Bounded: the oldest are forgotten first (such a key then waits for its TTL, as before).
    """

    def __init__(self, max_keys: int = 4096) -> None:
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_keys

    def __bool__(self) -> bool:
        return bool(self._owners)

    def remember(self, key: str, owner: str) -> None:
        with self._lock:
            self._owners[key] = owner
            while len(self._owners) > self._max:
                self._owners.popitem(last=False)

    def owner(self, key: str) -> str | None:
        with self._lock:
            return self._owners.get(key)

    def forget(self, key: str) -> None:
        with self._lock:
            self._owners.pop(key, None)
