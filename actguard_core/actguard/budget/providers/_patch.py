"""Idempotent, reversible method patching of SDK classes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

__all__ = ["Patches"]


class Patches:
    """The methods one provider module replaced, so they can be put back."""

    def __init__(self) -> None:
        self._done: list[tuple[type, str, Any]] = []

    def patch(self, owner: type, attr: str, wrap: Callable[[Any], Any]) -> None:
        """Replace ``owner.attr`` with ``wrap(original)`` unless it is already ours."""
        current = owner.__dict__.get(attr)
        if current is None or getattr(current, "__actguard_original__", None) is not None:
            return
        wrapper: Any = functools.wraps(current)(wrap(current))
        wrapper.__actguard_original__ = current
        setattr(owner, attr, wrapper)
        self._done.append((owner, attr, current))

    def undo(self) -> None:
        """Put every replaced method back."""
        while self._done:
            owner, attr, original = self._done.pop()
            setattr(owner, attr, original)

    def __bool__(self) -> bool:
        return bool(self._done)
