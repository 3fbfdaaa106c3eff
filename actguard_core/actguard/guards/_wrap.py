"""Plumbing shared by every guard decorator: bare-or-with-arguments use, tool identity, argument validation,
keeping the wrapped function's name, docstring and signature.

Each guard module keeps its decision logic in plain methods (key, verdict, outcome) and writes a sync and an async
wrapper that differ only in how they reach the store (``store.op(...)`` vs ``await store.aop(...)``): one decision
path, thin I/O shells.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
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


def finish(wrapper: F, info: ToolInfo) -> F:
    """Give ``wrapper`` the wrapped function's name, docstring, module, ``__wrapped__`` and signature."""
    functools.update_wrapper(wrapper, info.fn)
    wrapper.__signature__ = info.signature  # type: ignore[attr-defined]
    return wrapper


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
