"""Durations given by users: finite, > 0, and no longer than every place they end up can hold.

A duration becomes a ``threading`` wait (bounded by ``threading.TIMEOUT_MAX``), a Redis PEXPIRE in milliseconds
(a Lua number printed with 14 significant digits) and a SQLite REAL timestamp. 100 years fits all of them, so a
value past it is refused where it is given instead of failing later, after some state was already written.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from actguard.exceptions import ConfigError

__all__ = ["MAX_SECONDS", "check_seconds"]

MAX_SECONDS = min(100 * 365 * 86_400.0, threading.TIMEOUT_MAX)
"""The longest duration actguard accepts anywhere (100 years)."""


def check_seconds(value: Any, where: str) -> float:
    """``value`` as a float of seconds in (0, MAX_SECONDS] (bools refused), else ConfigError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{where} must be a number of seconds > 0 and finite, got {value!r}")
    if value > MAX_SECONDS:
        raise ConfigError(f"{where} must be at most {MAX_SECONDS:.0f} seconds (100 years), got {value!r}")
    return float(value)
