"""Guard events: every decision as one envelope, sent to the configured sinks.

:func:`emit` is called on hot paths, so with no sink configured it returns at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["add_sink", "emit", "remove_sink"]

_sinks: list[Callable[[dict[str, Any]], None]] = []


def emit(
    category: str,
    name: str,
    outcome: str,
    *,
    tool: str | None = None,
    run_id: str | None = None,
    user_id: str | None = None,
    payload: Mapping[str, Any] | None = None,
) -> None:
    """Report one guard decision. Never raises, never blocks."""
    if not _sinks:
        return
    event = {
        "category": category,
        "name": name,
        "outcome": outcome,
        "tool": tool,
        "run_id": run_id,
        "user_id": user_id,
        "payload": dict(payload or {}),
    }
    for sink in list(_sinks):
        with contextlib.suppress(Exception):  # a sink must never break the agent
            sink(event)


def add_sink(sink: Callable[[dict[str, Any]], None]) -> None:
    """Send every event to ``sink`` too."""
    _sinks.append(sink)


def remove_sink(sink: Callable[[dict[str, Any]], None]) -> None:
    """Stop sending events to ``sink``."""
    if sink in _sinks:
        _sinks.remove(sink)
