"""The identity of one tool call: the tool plus its arguments, however they were passed.

``f(1, b=2)``, ``f(a=1, b=2)`` and ``f(1)`` (when ``b`` defaults to 2) are the same call; so are two calls whose dict
arguments list their keys in different orders. The binding of arguments to parameters is planned once at decoration
(``fingerprinter``), so a call costs a few tuple and dict lookups and one ``repr``, never ``inspect`` work.

Values are compared by content: strings, numbers, ``None``, lists/tuples, dicts, sets and pydantic models
(``model_dump()``) exactly; anything else by type and ``repr`` (an object whose ``repr`` shows only its address is
never the same as another call's, so it can only be missed as a repeat, never mistaken for one).

A fingerprint is ``"<tool name>\\x1f<tool id>\\x1f<arguments>"``: the arguments' canonical text when it is short, else a
128-bit BLAKE2b digest of it (so a store never holds long argument values).
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Fingerprinter", "canonical", "fingerprinter", "tool_name_of"]

Fingerprinter = Callable[[tuple[Any, ...], dict[str, Any]], str]

_PLAIN = frozenset({str, int, float, bool, type(None)})
_EMPTY: Any = inspect.Parameter.empty
_SHORT = 64  # argument texts up to this length are kept as they are; longer ones are digested


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
        except Exception:
            pass
    return f"{cls.__module__}.{cls.__qualname__}:{value!r}"


def tool_name_of(fingerprint: str) -> str:
    """The tool name a fingerprint starts with."""
    return fingerprint.partition("\x1f")[0]


def fingerprinter(signature: inspect.Signature, name: str, ident: str) -> Fingerprinter:
    """Return ``fingerprint(args, kwargs)`` naming the call of tool ``name`` (identity ``ident``) with those arguments.

    A call that does not fit the signature raises the ``TypeError`` Python would raise for it.
    """
    params = list(signature.parameters.values())
    head = f"{name}\x1f{hashlib.blake2b(ident.encode(), digest_size=6).hexdigest()}\x1f"

    def finish(values: tuple[Any, ...]) -> str:
        for value in values:
            if type(value) not in _PLAIN:
                text = canonical(values)  # starts with "[": never equal to a tuple's repr, which starts with "("
                break
        else:
            text = repr(values)
        if len(text) <= _SHORT:
            return head + text
        return head + hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):

        def by_binding(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return finish((canonical(bound.arguments),))

        return by_binding

    count = len(params)
    # For each number of positional arguments: the parameters left to fill from keywords or defaults, their
    # defaults, the names that must come as keywords, and the names already taken by position.
    plans = []
    for given in range(count + 1):
        rest = params[given:]
        plans.append(
            (
                tuple(p.name for p in rest),
                tuple(p.default for p in rest),
                frozenset(p.name for p in rest if p.default is _EMPTY),
                frozenset(p.name for p in rest if p.kind is not p.POSITIONAL_ONLY),
            )
        )

    def by_plan(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        given = len(args)
        if given > count:
            signature.bind(*args, **kwargs)  # raises Python's TypeError for this call
        names, defaults, required, by_keyword = plans[given]
        if not kwargs:
            if required:
                signature.bind(*args)  # a required argument is missing: Python's TypeError
            return finish(args + defaults if given else defaults)
        keys = kwargs.keys()
        if not (keys >= required and keys <= by_keyword):
            signature.bind(*args, **kwargs)  # missing, unknown or duplicated argument: Python's TypeError
        values = tuple(map(kwargs.get, names, defaults))
        return finish(args + values if given else values)

    return by_plan
