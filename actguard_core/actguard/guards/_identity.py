"""Which tool a guard's state belongs to: the key part that keeps two tools apart and lines processes up.

- ``name="search_web"`` given: the tool *is* that name. Every function decorated with the same name shares state
  (the way to share on purpose), in every process using one store. The framework adapters pass the tool's name as
  the model sees it.
- No name (a bare ``@rate_limit(...)``): the function's module and qualified name, which every process computes
  alike. Closures built by one factory share a qualified name (``make.<locals>.search``), so the second, third...
  *distinct* function decorated under one qualified name gets ``#2``, ``#3``... appended: two closures never share
  state, and processes that build their tools in the same order still agree on each key. Wrappers are followed to
  the function the user wrote (``__wrapped__``), so every guard stacked on one function agrees on its identity, and
  decorating the same function twice gives it the same identity.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from collections.abc import Callable
from typing import Any

from actguard.exceptions import ActGuardWarning, ConfigError

__all__ = ["check_name", "identity_of"]

_WARN_AT = 1000  # distinct functions under one qualified name: a factory run per request, most likely
_lock = threading.Lock()
_counts: dict[str, int] = {}  # module.qualname -> distinct functions seen (bounded by the code that exists)
_idents: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def check_name(name: Any, where: str) -> str | None:
    """``name`` when it is None or a non-empty str, else ConfigError naming ``where``."""
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigError(
            f"{where} must be a non-empty str (the tool's name as the model sees it) or None, got {name!r}"
        )
    return name


def _written(fn: Callable[..., Any]) -> Any:
    """The function the user wrote: ``fn`` with wrappers (``__wrapped__``) and method binding peeled off."""
    seen: set[int] = set()
    current: Any = fn
    while id(current) not in seen:
        seen.add(id(current))
        current = getattr(current, "__func__", current)  # a bound method: its function (shared by instances)
        inner = getattr(current, "__wrapped__", None)
        if inner is None or not callable(inner):
            break
        current = inner
    return current


def identity_of(fn: Callable[..., Any], module: str, qualname: str) -> str:
    """The store-key identity of a function decorated without ``name=`` (see the module docstring)."""
    base = _written(fn)
    key = f"{module}.{qualname}"
    with _lock:
        try:
            known = _idents.get(base)
        except TypeError:  # not weakly referenceable (a callable object with __slots__): its plain qualified name
            return key
        if known is not None:
            return known
        count = _counts.get(key, 0) + 1
        _counts[key] = count
        ident = key if count == 1 else f"{key}#{count}"
        _idents[base] = ident
    if count == _WARN_AT:
        warnings.warn(
            f"actguard: {_WARN_AT} distinct functions named {key!r} were guarded, each with state of its own (a "
            "factory building a guarded tool per request gets a fresh rate limit each time). Guard the tool once, "
            "or pass name=... to share state between them.",
            ActGuardWarning,
            stacklevel=4,
        )
    return ident
