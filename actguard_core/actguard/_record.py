"""Frozen value classes without ``dataclasses``: importing it (and the ``inspect`` it imports) and generating each
class's methods cost more than the rest of ``import actguard``; the few value classes on that path use this instead.

A subclass lists its fields in ``__match_args__`` (in order), sets ``__slots__ = __match_args__`` and writes its
``__init__`` with :func:`object.__setattr__`; it gets what ``@dataclass(frozen=True, slots=True)`` would give it:
``==`` and ``hash`` by class and field values, ``repr``, positional ``match``, immutability, pickling and copying.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Record"]


class Record:
    """Base of a frozen, slotted value class. See the module docstring."""

    __slots__ = ()
    __match_args__: tuple[str, ...] = ()  # the fields, in order (a subclass sets __slots__ = __match_args__)

    def _fields(self) -> tuple[str, ...]:
        return self.__match_args__

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields())

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields())
        return f"{type(self).__qualname__}({fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self._values())
