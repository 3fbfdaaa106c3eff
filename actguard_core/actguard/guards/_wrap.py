"""Plumbing shared by every guard decorator: bare-or-with-arguments use, tool identity, argument validation,
keeping the wrapped function's name, docstring and signature.

Each guard module keeps its decision logic in plain methods (key, verdict, outcome) and writes a sync and an async
wrapper that differ only in how they reach the store (``store.op(...)`` vs ``await store.aop(...)``): one decision
path, thin I/O shells.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from types import FunctionType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from actguard._durations import check_seconds
from actguard.exceptions import ConfigError
from actguard.guards._identity import check_name, identity_of
from actguard.stores import Store, get_default_store

if TYPE_CHECKING:
    import inspect

__all__ = [
    "ToolInfo",
    "check_int",
    "check_name",
    "check_positive",
    "check_store",
    "finish",
    "forwards_bound",
    "refuse_generators",
    "resolve_store",
]

F = TypeVar("F", bound=Callable[..., Any])


class ToolInfo(NamedTuple):
    """What a guard needs to know about the function it wraps, computed once at decoration time."""

    fn: Callable[..., Any]
    name: str  # the tool's name as a model sees it: ``name=``, else ``__name__``
    ident: str  # the identity used in store keys: ``name=``, else module + qualified name (see _identity)
    signature: inspect.Signature
    is_async: bool

    @classmethod
    def of(cls, fn: Callable[..., Any], guard: str, name: str | None = None) -> ToolInfo:
        """Describe ``fn`` for ``guard``; ``name`` (validated by the guard) is the tool's explicit identity."""
        if not callable(fn):
            raise ConfigError(f"{guard} decorates a function or method, got {fn!r}")
        import inspect  # here, not with actguard: `import inspect` costs more than the rest of the guards

        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{guard} needs a function with an inspectable signature; {fn!r}: {exc}") from exc
        # An object whose __call__ is a coroutine function is async too (inspect only looks at functions).
        is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)
        if name is not None:
            return cls(fn, name, name, signature, is_async)
        own = getattr(fn, "__name__", None) or type(fn).__name__
        qualname = getattr(fn, "__qualname__", None) or own
        module = getattr(fn, "__module__", None) or ""
        return cls(fn, own, identity_of(fn, module, qualname), signature, is_async)


# Every wrapper finish() completed -> (the callable it calls, the signature its guard planned on). Weak keys: an entry
# goes with its wrapper. Kept here, not as an attribute: functools.wraps copies a wrapper's __dict__ into the user's
# own wrapper around it, which must not pass for one of ours.
_forwarders: weakref.WeakKeyDictionary[Callable[..., Any], tuple[Callable[..., Any], inspect.Signature]] = (
    weakref.WeakKeyDictionary()
)

# Attributes that make inspect report a function's signature from something other than its own parameters.
_SIGNATURE_FROM_ELSEWHERE = frozenset({"__wrapped__", "__signature__", "_partialmethod", "__partialmethod__"})


def finish(wrapper: F, info: ToolInfo) -> F:
    """Give ``wrapper`` the wrapped function's name, docstring, module, ``__wrapped__`` and signature.

    ``wrapper`` must forward: call ``info.fn`` with arguments that bind as the call's own, and read them only through
    ``info.signature`` (``argument_getter``), so that what it does depends on the values bound, never on how the
    call spelled them (see :func:`forwards_bound`). Every actguard guard's wrapper does.
    """
    functools.update_wrapper(wrapper, info.fn)
    wrapper.__signature__ = info.signature  # type: ignore[attr-defined]
    _forwarders[wrapper] = (info.fn, info.signature)
    return wrapper


def forwards_bound(fn: Callable[..., Any], signature: inspect.Signature) -> bool:
    """Whether calling ``fn`` with a call's arguments as bound to ``signature`` (each one by position, keyword-only
    ones by keyword, defaults spelled out) is the same as calling it as the call spelled them.

    True for a plain function whose signature is its own, and for actguard guard wrappers (:func:`finish`) around
    one, each guard planned on that function's parameters: they hand the arguments on to it, which binds them alike.
    False for anything else in between (a wrapper the user wrote, a ``functools.partial``, a callable object, a
    ``__signature__`` set by hand): it could tell the spellings apart.
    """
    planned = [signature]
    while type(fn) is FunctionType and fn in _forwarders:
        fn, inner = _forwarders[fn]
        planned.append(inner)
    if type(fn) is not FunctionType or _SIGNATURE_FROM_ELSEWHERE & fn.__dict__.keys():
        return False
    if len(planned) == 1:
        return True  # the caller's signature is inspect's for fn: its own
    import inspect

    own = list(inspect.signature(fn).parameters.values())
    return all(_same_parameters(list(s.parameters.values()), own) for s in planned)


def _same_parameters(params: list[inspect.Parameter], own: list[inspect.Parameter]) -> bool:
    """Same names, kinds and default objects (annotations do not bind)."""
    return len(params) == len(own) and all(
        p.name == q.name and p.kind is q.kind and p.default is q.default for p, q in zip(params, own, strict=True)
    )


def refuse_generators(fn: Callable[..., Any], guard: str) -> None:
    """Generators finish long after the call returns, so guards that judge a call's outcome refuse them."""
    import inspect

    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise ConfigError(
            f"{guard} cannot guard generator function {getattr(fn, '__qualname__', fn)!r}: its work runs after the "
            "call returns. Accepted: plain functions and coroutine functions (return a list instead of yielding)."
        )


def check_int(value: Any, where: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (bools refused), else ConfigError naming ``where``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{where} must be an int >= {minimum}, got {value!r}")
    return value


def check_positive(value: Any, where: str) -> float:
    """``value`` as seconds in (0, 100 years] (finite; bools refused), else ConfigError naming ``where``."""
    return check_seconds(value, where)


def check_store(store: Any, where: str) -> Store | None:
    """``store`` when it is a Store or None, else ConfigError."""
    if store is not None and not isinstance(store, Store):
        raise ConfigError(f"{where} must be an actguard Store (e.g. MemoryStore) or None, got {store!r}")
    return store


def resolve_store(store: Store | None) -> Store:
    """The guard's own store, or the default store as it is *now* (so configuring after decoration works)."""
    return store if store is not None else get_default_store()


def not_a_function(value: Any, guard: str, usage: str) -> ConfigError:
    """The error for a decorator that needs arguments but was applied bare (``@rate_limit``)."""
    return ConfigError(f"{guard} needs arguments: use {usage}, got {value!r} as its first argument")


def missing_arguments(guard: str, usage: str) -> ConfigError:
    """The error for a decorator called without its required arguments."""
    return ConfigError(f"{guard} is required: use {usage}")
