"""Find one argument of a call by parameter name, whether passed by position, keyword or left to its default.

The lookup is planned once at decoration time (``argument_getter``) so a call costs a tuple index or a dict lookup,
never ``inspect`` work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from actguard.exceptions import ConfigError

__all__ = ["ArgGetter", "argument_getter", "positional_index"]

if TYPE_CHECKING:
    import inspect

ArgGetter = Callable[[tuple[Any, ...], dict[str, Any]], Any]


def argument_getter(sig: inspect.Signature, name: str, *, where: str) -> ArgGetter:
    """Return ``get(args, kwargs)`` giving the value bound to parameter ``name`` in a call.

    Args:
        sig: the decorated function's signature.
        name: the parameter to find.
        where: the decorator argument being resolved, for error messages (e.g. ``"rate_limit(scope=...)"``).

    Raises:
        ConfigError: ``name`` is not a named parameter of the function.
    """
    named = [p.name for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    param = sig.parameters.get(name)
    if param is None or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
        raise ConfigError(f"{where} must name a parameter of the function, one of {named}; got {name!r}")
    default = param.default
    unset = param.empty

    def missing(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        sig.bind(*args, **kwargs)  # raises the TypeError Python would raise for the missing argument
        raise TypeError(f"missing argument {name!r}")  # pragma: no cover - bind always raises here

    if param.kind is param.KEYWORD_ONLY:

        def get_keyword(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            value = kwargs.get(name, default)
            return missing(args, kwargs) if value is unset else value

        return get_keyword

    index = list(sig.parameters).index(name)
    by_keyword = param.kind is param.POSITIONAL_OR_KEYWORD

    def get_positional(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if len(args) > index:
            return args[index]
        value = kwargs.get(name, default) if by_keyword else default
        return missing(args, kwargs) if value is unset else value

    return get_positional


def positional_index(sig: inspect.Signature, name: str) -> int:
    """The index at which parameter ``name`` arrives in ``args`` when passed by position; a huge number when it
    cannot be (keyword-only), so ``len(args) > index`` is a complete test for "passed by position"."""
    param = sig.parameters[name]
    if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
        return list(sig.parameters).index(name)
    return 1 << 62
