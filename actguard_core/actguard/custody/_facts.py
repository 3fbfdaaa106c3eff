"""What a fact is: a ``(kind, value)`` pair in one session's namespace, with ``value`` in one canonical text form.

Canonical form (the one rule both :func:`actguard.prove` and :func:`actguard.enforce` apply):

* ``str`` (and str subclasses such as ``StrEnum`` members): the text itself, exactly (no stripping, no case folding).
* ``int`` (and int subclasses such as ``IntEnum`` members, but never ``bool``): its decimal text. So ``1`` and
  ``"1"`` are **the same fact**: a model passes ids as JSON, sometimes as a number and sometimes as a string, and
  both name the same record. ``"01"``, ``" 1"``, ``"1.0"`` and ``"+1"`` are different facts.
* ``uuid.UUID``: its canonical lowercase hyphenated text (``str(u)``).
* Everything else is *not an id* and is refused: ``bool`` (``True == 1`` in Python), ``float`` (``1.0``, ``nan``),
  ``None`` (never minted as the text ``"None"``), ``bytes``, ``Decimal``, dicts, and arbitrary objects (whose
  ``str()`` is not a stable identity).

Kind and value reach the store as separate fields (``store.facts_add(namespace, kind, values, ttl)``), never
concatenated, so kind ``"order"`` with value ``"x:1"`` is not kind ``"order:x"`` with value ``"1"``. The namespace is
:attr:`actguard.Session.namespace` (JSON of session id and sorted scope).

This module also keeps the registry of which tools prove which kind, used to tell a model what to call first.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

__all__ = ["FactTypeError", "canonical", "describe", "proving_tools", "register_prover"]


class FactTypeError(TypeError):
    """A value that is not an id (see the module docstring)."""


def canonical(value: Any) -> str:
    """The canonical text of an id value.

    Raises:
        FactTypeError: ``value`` is not a str, an int (bools excluded) or a ``uuid.UUID``.
    """
    cls = type(value)
    if cls is str:
        return value  # type: ignore[no-any-return]
    if cls is int:
        return _int_text(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _int_text(int(value))
    uuid = sys.modules.get("uuid")  # a UUID exists only once uuid is imported; importing it here would cost more
    if uuid is not None and isinstance(value, uuid.UUID):
        return str(value)
    raise FactTypeError(f"{describe(value)} is not an id: accepted are str, int (not bool) and uuid.UUID")


def _int_text(value: int) -> str:
    try:
        return int.__repr__(value)
    except ValueError as exc:  # beyond sys.get_int_max_str_digits()
        raise FactTypeError(f"an int with more digits than Python converts to text is not an id: {exc}") from None


def describe(value: Any, limit: int = 64) -> str:
    """A short, safe rendering of ``value`` for messages: its repr, cut to ``limit`` characters."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        return f"{type(value).__name__} {text}"
    return text


_provers: dict[str, tuple[str, ...]] = {}
_provers_lock = threading.Lock()


def register_prover(kind: str, tool_name: str) -> None:
    """Remember that ``tool_name`` proves facts of ``kind`` (called by :func:`actguard.prove` at decoration)."""
    with _provers_lock:
        names = _provers.get(kind, ())
        if tool_name not in names:
            _provers[kind] = (*names, tool_name)


def proving_tools(kind: str) -> tuple[str, ...]:
    """Names of the tools decorated with ``prove(kind=kind, ...)``, in decoration order."""
    return _provers.get(kind, ())
