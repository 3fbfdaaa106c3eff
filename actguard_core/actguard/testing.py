"""Helpers for testing code that uses actguard: a fake clock, event capture.

Example::

    from actguard.testing import FakeClock
    from actguard import MemoryStore, rate_limit

    clock = FakeClock()
    store = MemoryStore(clock=clock)

    @rate_limit(max_calls=1, period=60, store=store)
    def ping() -> None: ...

    ping()
    clock.advance(60)
    ping()  # the window has moved on; no sleeping
"""

from __future__ import annotations

import threading

from actguard.exceptions import ConfigError

__all__ = ["FakeClock"]


class FakeClock:
    """A clock that moves only when told to. Thread-safe."""

    def __init__(self, start: float = 1_000.0, wall_start: float = 1_700_000_000.0) -> None:
        self._lock = threading.Lock()
        self._mono = float(start)
        self._wall = float(wall_start)

    def monotonic(self) -> float:
        return self._mono

    def wall(self) -> float:
        return self._wall

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds`` (>= 0)."""
        if seconds < 0:
            raise ConfigError(f"FakeClock.advance(seconds=...) must be >= 0, got {seconds!r}")
        with self._lock:
            self._mono += seconds
            self._wall += seconds

    def __repr__(self) -> str:
        return f"FakeClock(monotonic={self._mono}, wall={self._wall})"
