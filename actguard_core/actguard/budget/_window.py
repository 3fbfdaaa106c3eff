"""Parse a shared budget's window ("30s", "15m", "1h", "1d", "7d" or seconds)."""

from __future__ import annotations

import math
import re

from actguard._durations import MAX_SECONDS
from actguard.exceptions import ConfigError

__all__ = ["parse_window"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_window(window: float | str | None) -> float | None:
    """Seconds in ``window``; None stays None (no expiry).

    Raises:
        ConfigError: not a positive number of seconds or a string such as ``"1d"``.
    """
    if window is None:
        return None
    if isinstance(window, str):
        match = _PATTERN.match(window)
        if match is not None:
            seconds = float(match.group(1)) * _UNITS[match.group(2)]  # "1" + "0"*400 + "s" parses to inf
            if 0 < seconds <= MAX_SECONDS:
                return seconds
    elif (
        not isinstance(window, bool)
        and isinstance(window, (int, float))
        and math.isfinite(window)
        and 0 < window <= MAX_SECONDS
    ):
        return float(window)
    raise ConfigError(
        "BudgetGuard(window=...) must be a number of seconds > 0 (at most 100 years), a string such as '30s', '15m', "
        f"'1h', '1d' or '7d', or None, got {window!r}"
    )
