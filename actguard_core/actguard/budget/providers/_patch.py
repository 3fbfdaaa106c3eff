"""Idempotent, reversible method patching of SDK classes.

Undoing a patch restores the SDK's method only where actguard's wrapper is still the attribute: if another library
wrapped the method on top of actguard's, its wrapper stays (it holds a reference to ours), and ours is switched off
(:attr:`Patches.active` is False: it calls straight through), so neither library's patch is clobbered.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

__all__ = ["Patches"]


class Patches:
    """The methods one provider module replaced, so they can be put back.

    Attributes:
        active: False once :meth:`undo` ran and until the next :meth:`patch`: wrappers that could not be removed
            (another library wrapped on top of them) check it and call the SDK's own method.
    """

    def __init__(self) -> None:
        self._done: list[tuple[type, str, Any, Any]] = []  # (owner, attribute, original, our wrapper)
        self.active = True

    def patch(self, owner: type, attr: str, wrap: Callable[[Any], Any]) -> None:
        """Replace ``owner.attr`` with ``wrap(original)`` unless it is already ours."""
        self.active = True
        current = owner.__dict__.get(attr)
        if current is None or _ours(current):
            return
        for done_owner, done_attr, _, _ in self._done:  # ours, kept under another library's wrapper: switched on
            if done_owner is owner and done_attr == attr:
                return
        wrapper = functools.wraps(current)(wrap(current))
        wrapper.__actguard_original__ = current
        setattr(owner, attr, wrapper)
        self._done.append((owner, attr, current, wrapper))

    def undo(self) -> None:
        """Put back every replaced method that is still actguard's wrapper; switch off the others."""
        self.active = False
        kept: list[tuple[type, str, Any, Any]] = []
        while self._done:
            owner, attr, original, wrapper = self._done.pop()
            if owner.__dict__.get(attr) is wrapper:
                setattr(owner, attr, original)
            else:
                kept.append((owner, attr, original, wrapper))
        self._done = kept

    def __bool__(self) -> bool:
        return bool(self._done)


def _ours(method: Any) -> bool:
    return getattr(method, "__actguard_original__", None) is not None
