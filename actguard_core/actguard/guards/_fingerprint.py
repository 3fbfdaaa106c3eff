"""The identity of one tool call: the tool plus its arguments, however they were passed.

``f(1, b=2)``, ``f(a=1, b=2)`` and ``f(1)`` (when ``b`` defaults to 2) are the same call; so are two calls whose dict
arguments list their keys in different orders. The binding of arguments to parameters is planned once at decoration
(``fingerprinter``), so a call costs a few tuple and dict lookups plus one short hash, never ``inspect`` work.

Values are compared by content: strings, numbers, ``None``, lists/tuples, dicts, sets and pydantic models
(``model_dump()``) exactly; anything else by type and ``repr`` (an object whose ``repr`` shows only its address is
never the same as another call's, so it can only be missed as a repeat, never mistaken for one).
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Fingerprinter", "canonical", "fingerprinter"]

Fingerprinter = Callable[[tuple[Any, ...], dict[str, Any]], str]

_PLAIN = frozenset({str, int, float, bool, type(None)})
_EMPTY: Any = inspect.Parameter.empty


def canonical(value: Any) -> str:
    """A text equal for equal argument values, whatever the dict key order or sequence type."""
    cls = type(value)
    if cls in _PLAIN:
        return repr(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(sorted(f"{canonical(k)}:{canonical(v)}" for k, v in value.items())) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join([canonical(v) for v in value]) + "]"
    if isinstance(value, (set, frozenset)):
        return "{" + ",".join(sorted(canonical(v) for v in value)) + "}"
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return f"{cls.__qualname__}{canonical(dump())}"
        except Exception:  # noqa: BLE001 - a model that cannot dump itself is compared by repr below
            pass
    return f"{cls.__module__}.{cls.__qualname__}:{value!r}"


def fingerprinter(signature: inspect.Signature, ident: str) -> Fingerprinter:
    """Return ``fingerprint(args, kwargs)``: 16 hex digits naming the call of tool ``ident`` with those arguments.

    A call that does not fit the signature raises the ``TypeError`` Python would raise for it.
    """
    params = list(signature.parameters.values())
    seed = ident.encode() + b"\0"
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):

        def by_binding(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return _digest(seed, canonical(bound.arguments))

        return by_binding

    names = tuple(p.name for p in params)
    defaults = tuple(p.default for p in params)
    keyword_ok = frozenset(p.name for p in params if p.kind is not p.POSITIONAL_ONLY)
    count = len(names)

    def by_plan(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        if len(args) > count or (kwargs and not keyword_ok.issuperset(kwargs)):
            signature.bind(*args, **kwargs)  # raises Python's TypeError for this call
        parts = [canonical(v) for v in args]
        for i in range(len(args), count):
            value = kwargs.get(names[i], defaults[i]) if names[i] in keyword_ok else defaults[i]
            if value is _EMPTY:
                signature.bind(*args, **kwargs)  # a required argument is missing: Python's TypeError
            parts.append(canonical(value))
        if kwargs and len(args) > 0 and any(name in kwargs for name in names[: len(args)]):
            signature.bind(*args, **kwargs)  # one argument given twice: Python's TypeError
        return _digest(seed, "\0".join(parts))

    return by_plan


def _digest(seed: bytes, text: str) -> str:
    return hashlib.blake2b(seed + text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
