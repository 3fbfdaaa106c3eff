"""``tool``: every tool guard (and chain of custody) in one declaration, composed in a fixed order."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, overload

from actguard.exceptions import ConfigError
from actguard.guards._wrap import check_name, check_store
from actguard.guards.circuit_breaker import circuit_breaker as _circuit_breaker
from actguard.guards.idempotent import idempotent as _idempotent
from actguard.guards.loop_guard import loop_guard as _loop_guard
from actguard.guards.max_attempts import max_attempts as _max_attempts
from actguard.guards.rate_limit import rate_limit as _rate_limit
from actguard.guards.timeout import timeout as _timeout
from actguard.stores import Store

__all__ = ["GUARD_ORDER", "tool"]

F = TypeVar("F", bound=Callable[..., Any])
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

GUARD_ORDER = (
    "enforce",
    "prove",
    "idempotent",
    "max_attempts",
    "loop_guard",
    "circuit_breaker",
    "rate_limit",
    "timeout",
)
"""The order :func:`tool` applies its guards in, outermost first; the function itself is innermost."""


@overload
def tool(fn: F, /) -> F: ...


@overload
def tool(
    *,
    idempotent: Mapping[str, Any] | bool | None = ...,
    max_attempts: Mapping[str, Any] | int | None = ...,
    loop_guard: Mapping[str, Any] | int | bool | None = ...,
    rate_limit: Mapping[str, Any] | None = ...,
    circuit_breaker: Mapping[str, Any] | None = ...,
    timeout: float | Mapping[str, Any] | None = ...,
    prove: Mapping[str, Any] | None = ...,
    enforce: Sequence[Any] | None = ...,
    store: Store | None = ...,
    name: str | None = ...,
) -> Callable[[F], F]: ...


def tool(
    fn: F | None = None,
    /,
    *,
    idempotent: Mapping[str, Any] | bool | None = None,
    max_attempts: Mapping[str, Any] | int | None = None,
    loop_guard: Mapping[str, Any] | int | bool | None = None,
    rate_limit: Mapping[str, Any] | None = None,
    circuit_breaker: Mapping[str, Any] | None = None,
    timeout: float | Mapping[str, Any] | None = None,
    prove: Mapping[str, Any] | None = None,
    enforce: Sequence[Any] | None = None,
    store: Store | None = None,
    name: str | None = None,
) -> F | Callable[[F], F]:
    """Apply several guards with one decorator. Each argument configures one guard; ``None`` leaves it out.

    Order, outermost first (a call meets them in this order; :data:`GUARD_ORDER`)::

        enforce -> prove -> idempotent -> max_attempts -> loop_guard -> circuit_breaker -> rate_limit -> timeout
        -> the function

    Why this order:

    * ``enforce`` first: a write that references unproven data is refused before it consumes anything.
    * ``prove`` next: it records facts from whatever result the caller gets, a fresh or a cached one.
    * ``idempotent`` before the counting guards: a duplicate answered from the first call's result (or refused as
      in progress) consumes no attempt, no rate-limit slot and no breaker probe.
    * ``max_attempts`` before the breaker and the rate limit: it caps the agent's tries, and a try that an open
      circuit or a rate limit refuses is still a try (an agent looping on a refused tool is what it stops).
    * ``loop_guard`` after ``max_attempts`` (a refused repeat is still a try) and before the breaker and the rate
      limit, so a model that keeps repeating a call those refuse is told it is looping.
    * ``circuit_breaker`` before ``rate_limit``: while the dependency is down, calls fail fast without spending
      rate-limit slots (which often model a quota of the same dependency); a call the rate limit refuses is an
      actguard refusal, which the breaker never counts (a half-open probe slot is handed back).
    * ``timeout`` innermost: it bounds only the function itself, and the breaker sees its ToolTimeoutError as a
      ``timeout`` failure.

    Refusals of inner guards release an idempotency key (the function did not run); a timeout marks it unknown.

    Works bare (``@tool``, no guards) or with arguments. Errors in any guard's arguments raise at decoration time.

    Args:
        idempotent: keyword arguments of :func:`actguard.idempotent` (``{"ttl_s": 600, "on_duplicate": "return"}``),
            or ``True`` for its defaults.
        max_attempts: keyword arguments of :func:`actguard.max_attempts` (``{"calls": 3}``), or the number of calls.
        loop_guard: keyword arguments of :func:`actguard.loop_guard` (``{"max_repeats": 2, "max_cycle": 3}``),
            the number of identical calls allowed, or ``True`` for its defaults.
        rate_limit: keyword arguments of :func:`actguard.rate_limit` (``{"max_calls": 10, "period": 60}``).
        circuit_breaker: keyword arguments of :func:`actguard.circuit_breaker` (``{"name": "search_api"}``).
        timeout: seconds (``2.0``), or ``{"seconds": 2.0}``.
        prove: keyword arguments of :func:`actguard.prove` (``{"kind": "order_id", "extract": "id"}``).
        enforce: the rules for :func:`actguard.enforce` (``[actguard.RequireFact("order_id", "order_id")]``).
        store: the store every guard here uses unless its own arguments name one; ``None``: the default store.
        name: the tool's name as the model sees it, given to every guard here (its ``name=``; a circuit breaker's
            ``tool_name=``) unless its own arguments name one: the identity of the guards' state and the name in
            their refusals. Two functions given one ``name`` share state. ``None``: each function's own identity
            (module + qualified name; closures from one factory kept apart, see :mod:`actguard.guards._identity`).

    Example::

        @actguard.tool(
            idempotent={"ttl_s": 600, "on_duplicate": "return"},
            max_attempts={"calls": 3},
            rate_limit={"max_calls": 10, "period": 60, "scope": "user_id"},
            circuit_breaker={"name": "search_api", "max_fails": 3, "reset_timeout": 60},
            timeout=2.0,
        )
        def search_web(user_id: str, query: str, *, idempotency_key: str) -> str: ...
    """
    check_store(store, "tool(store=...)")
    check_name(name, "tool(name=...)")
    named = {"name": name} if name is not None else {}
    layers: dict[str, Decorator] = {}
    if enforce is not None:
        layers["enforce"] = _custody_enforce(enforce, store, name)
    if prove is not None:
        layers["prove"] = _custody_prove(_options(prove, "prove"), store, named)
    if idempotent is not None and idempotent is not False:
        options = {} if idempotent is True else _options(idempotent, "idempotent")
        layers["idempotent"] = _build(_idempotent, "idempotent", options, store, named)
    if max_attempts is not None:
        options = {"calls": max_attempts} if isinstance(max_attempts, int) else _options(max_attempts, "max_attempts")
        layers["max_attempts"] = _build(_max_attempts, "max_attempts", options, store, named)
    if loop_guard is not None and loop_guard is not False:
        if loop_guard is True:
            options = {}
        elif isinstance(loop_guard, int):
            options = {"max_repeats": loop_guard}
        else:
            options = _options(loop_guard, "loop_guard")
        layers["loop_guard"] = _build(_loop_guard, "loop_guard", options, store, named)
    if circuit_breaker is not None:
        options = _options(circuit_breaker, "circuit_breaker")
        tool_named = {"tool_name": name} if name is not None else {}
        layers["circuit_breaker"] = _build(_circuit_breaker, "circuit_breaker", options, store, tool_named)
    if rate_limit is not None:
        layers["rate_limit"] = _build(_rate_limit, "rate_limit", _options(rate_limit, "rate_limit"), store, named)
    if timeout is not None:
        options = dict(timeout) if isinstance(timeout, Mapping) else {"seconds": timeout}
        layers["timeout"] = _build(_timeout, "timeout", options, None, named)

    def decorate(func: F) -> F:
        wrapped: Callable[..., Any] = func
        for name in reversed(GUARD_ORDER):
            layer = layers.get(name)
            if layer is not None:
                wrapped = layer(wrapped)
        return wrapped  # type: ignore[return-value]

    if fn is not None:
        if not callable(fn):
            raise ConfigError(f"tool takes keyword arguments only (e.g. @tool(timeout=2.0)), got {fn!r}")
        return decorate(fn)
    return decorate


def _options(value: Any, arg: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"tool({arg}=...) must be a dict of {arg}'s keyword arguments or None, got {value!r}")
    return dict(value)


def _build(
    guard: Callable[..., Decorator],
    arg: str,
    options: dict[str, Any],
    store: Store | None,
    defaults: Mapping[str, Any] | None = None,
) -> Decorator:
    """Call ``guard(**options)`` (``defaults`` filling keys the options leave out), naming the guard and its accepted
    keys when the options do not fit."""
    import inspect

    params = inspect.signature(guard).parameters
    accepted = [name for name, p in params.items() if p.kind is not p.POSITIONAL_ONLY]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"tool({arg}=...) got unknown keys {unknown}; accepted keys are {accepted}")
    if store is not None and "store" in params:
        options.setdefault("store", store)
    for key, value in (defaults or {}).items():
        options.setdefault(key, value)
    try:
        return guard(**options)
    except TypeError as exc:  # a required key is missing
        raise ConfigError(f"tool({arg}=...): {exc}; accepted keys are {accepted}") from None


def _custody() -> Any:
    try:
        import actguard.custody as custody
    except ImportError as exc:  # pragma: no cover - custody ships with the core
        raise ConfigError(f"tool(prove=... / enforce=...) needs actguard.custody: {exc}") from exc
    return custody


def _custody_prove(options: dict[str, Any], store: Store | None, named: Mapping[str, Any]) -> Decorator:
    return _build(_custody().prove, "prove", options, store, named)


def _custody_enforce(rules: Any, store: Store | None, name: str | None) -> Decorator:
    custody = _custody()
    named = {"name": name} if name is not None else {}
    if isinstance(rules, Mapping):
        return _build(custody.enforce, "enforce", dict(rules), store, named)
    extra: dict[str, Any] = dict(named)
    if store is not None:
        extra["store"] = store
    return custody.enforce(rules, **extra)  # type: ignore[no-any-return]
