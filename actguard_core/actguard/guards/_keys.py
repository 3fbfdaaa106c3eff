"""Collision-free store keys.

Every part is length-prefixed (``"<len>:<text>"``), so no choice of user values (run ids, scope values, idempotency
keys containing ``":"``) can make two different tuples of parts encode to the same key. A key starts with the guard's
name, so guards never share keys either.
"""

from __future__ import annotations

from typing import Any

__all__ = ["encode", "encode_value", "scope_part"]


def encode(*parts: str) -> str:
    """Join ``parts`` into one key that decodes back to exactly these parts."""
    return "".join([f"{len(p)}:{p}" for p in parts])


def encode_value(value: Any) -> str:
    """``encode(scope_part(value))``, the one-part key suffix for an argument value (the hot path)."""
    if type(value) is str:
        return f"{len(value) + 2}:s:{value}"
    return encode(scope_part(value))


def scope_part(value: Any) -> str:
    """A key part for an argument value: strings as themselves, anything else by type and ``repr``.

    ``"1"`` and ``1`` are different scopes; the two forms start differently (``s:`` / ``r:``) and a type's qualified
    name never contains ``":"``, so no string collides with a non-string.
    """
    if type(value) is str:
        return "s:" + value
    cls = type(value)
    return f"r:{cls.__module__}.{cls.__qualname__}:{value!r}"
