"""Durations nothing can wait on (non-finite, or longer than a thread wait, Redis or SQLite can hold) are refused
where they are given, with a ConfigError naming the argument."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import actguard
from actguard import ConfigError

TOO_LONG = [math.inf, math.nan, 1e12, 1e15, 1e18, -1.0, 0]


@pytest.mark.parametrize("value", TOO_LONG)
def test_guard_durations_are_checked_at_decoration(value: float) -> None:
    guards = {
        "rate_limit(period=...)": lambda: actguard.rate_limit(max_calls=1, period=value),
        "idempotent(ttl_s=...)": lambda: actguard.idempotent(ttl_s=value),
        "max_attempts(ttl_s=...)": lambda: actguard.max_attempts(calls=1, ttl_s=value),
        "circuit_breaker(reset_timeout=...)": lambda: actguard.circuit_breaker(name="x", reset_timeout=value),
        "timeout(seconds=...)": lambda: actguard.timeout(value),
    }
    for where, make in guards.items():
        with pytest.raises(ConfigError, match=re_escape(where)):
            make()


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.parametrize("option", ["timeout", "flush_interval", "shutdown_timeout", "backoff_max"])
@pytest.mark.parametrize("value", ["Infinity", "1e12", "NaN"])
def test_configure_refuses_waits_nothing_can_hold(option: str, value: str) -> None:
    with pytest.raises(ConfigError, match=option):
        actguard.configure(f'{{"events_file": "x.jsonl", "{option}": {value}}}')
    actguard.configure(None)  # still works afterwards


@pytest.mark.parametrize("window", ["1" + "0" * 400 + "s", 1e300, math.inf, "999999999999d"])
def test_a_window_that_parses_to_infinity_or_beyond_is_refused(window: object) -> None:
    with pytest.raises(ConfigError, match=r"window=\.\.\."):
        actguard.BudgetGuard(user_id="u", shared=True, window=window)  # type: ignore[arg-type]


def test_store_timeouts_are_checked(tmp_path: Path) -> None:
    for value in (math.inf, 1e12):
        with pytest.raises(ConfigError, match=r"SQLiteStore\(timeout=\.\.\.\)"):
            actguard.SQLiteStore(tmp_path / "x.db", timeout=value)
