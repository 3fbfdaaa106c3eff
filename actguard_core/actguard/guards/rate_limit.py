"""``rate_limit``: at most ``max_calls`` admitted calls per sliding window of ``period`` seconds, per scope value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, overload

from actguard.exceptions import ConfigError, RateLimitExceeded
from actguard.guards._keys import encode, encode_value
from actguard.guards._signature import argument_getter, positional_index
from actguard.guards._wrap import (
    ToolInfo,
    check_int,
    check_name,
    check_positive,
    check_store,
    finish,
    missing_arguments,
    not_a_function,
)
from actguard.reporting import emit
from actguard.stores import Store, WindowDecision, get_default_store

__all__ = ["rate_limit"]

F = TypeVar("F", bound=Callable[..., Any])
_USAGE = "@rate_limit(max_calls=5, period=60, scope='user_id')"
_KEY_CACHE = 4096


@overload
def rate_limit(
    max_calls: int, period: float, scope: str | None = None, *, store: Store | None = None, name: str | None = None
) -> Callable[[F], F]: ...


@overload
def rate_limit(max_calls: Callable[..., Any], /) -> NoReturn: ...


def rate_limit(
    max_calls: Any = None,
    period: Any = None,
    scope: str | None = None,
    *,
    store: Store | None = None,
    name: str | None = None,
) -> Callable[[F], F]:
    """Admit at most ``max_calls`` calls per sliding window of ``period`` seconds; refuse the rest.

    The window is a sliding log: a call is admitted when fewer than ``max_calls`` calls were admitted in the
    ``period`` seconds before it (refused calls are not counted). Exact under threads and asyncio tasks.

    Buckets are keyed by the tool's identity plus the scope value: ``name=`` when given, else the function's module
    and qualified name (with ``#2``, ``#3``... for further closures built by one factory). So two functions never
    share a bucket unless they are given one ``name``, while every process using one shared store (SQLite, Redis)
    shares it.

    Args:
        max_calls: calls admitted per window, >= 1.
        period: window length in seconds, > 0.
        scope: name of a parameter of the function; each distinct value gets its own window (``scope="user_id"``:
            one per user). The argument is found whether passed by position, keyword or left to its default.
            Strings are keyed as themselves, other values by type and ``repr``. ``None``: one window for all calls.
        store: where the windows live; ``None`` means the default store at call time
            (:func:`actguard.set_default_store`).
        name: the tool's identity for this guard's state and its name in errors and events (the name a model
            calls it by); functions guarded under one ``name`` share state. ``None``: the function's ``__name__``
            in messages, and its module + qualified name as identity (closures from one factory kept apart, see
            :mod:`actguard.guards._identity`).

    Raises:
        ConfigError: at decoration, for ``max_calls < 1``, ``period <= 0`` or a ``scope`` that is not a parameter.
        RateLimitExceeded: at call time, with ``retry_after`` (seconds until a slot frees), ``scope_value``,
            ``limit`` and ``period``. The function is not called.
        StoreUnavailable: at call time, when a shared store cannot be reached (the function is not called),
            unless the store was built with ``fail_open=True`` or ``fail_open=["rate_limit"]``: then the call is
            admitted and the outage reported.

    Example::

        @rate_limit(max_calls=5, period=60, scope="user_id")
        def send_email(user_id: str, subject: str) -> str: ...
    """
    if callable(max_calls):
        raise not_a_function(max_calls, "rate_limit", _USAGE)
    if max_calls is None or period is None:
        raise missing_arguments("rate_limit(max_calls=..., period=...)", _USAGE)
    limit = check_int(max_calls, "rate_limit(max_calls=...)")
    window = check_positive(period, "rate_limit(period=...)")
    if scope is not None and not isinstance(scope, str):
        raise ConfigError(f"rate_limit(scope=...) must be a parameter name (str) or None, got {scope!r}")
    check_store(store, "rate_limit(store=...)")
    check_name(name, "rate_limit(name=...)")

    def decorate(fn: F) -> F:
        guard = _RateLimit(ToolInfo.of(fn, "rate_limit", name), limit, window, scope, store)
        return guard.wrap()  # type: ignore[no-any-return]

    return decorate


class _RateLimit:
    """The decision logic of one decorated function; ``wrap`` adds the sync or async shell."""

    __slots__ = ("get_scope", "info", "limit", "period", "prefix", "scope_index", "store")

    def __init__(self, info: ToolInfo, limit: int, period: float, scope: str | None, store: Store | None) -> None:
        self.info = info
        self.limit = limit
        self.period = period
        self.store = store
        self.prefix = encode("rate_limit", info.ident)
        self.get_scope = (
            argument_getter(info.signature, scope, where="rate_limit(scope=...)") if scope is not None else None
        )
        self.scope_index = positional_index(info.signature, scope) if scope is not None else 0

    def refuse(self, decision: WindowDecision, scope_value: Any) -> NoReturn:
        """Report a refusal and raise it."""
        emit(
            "tool_guard",
            "rate_limit",
            "blocked",
            tool=self.info.name,
            payload={
                "scope": scope_value if scope_value is None or isinstance(scope_value, str) else repr(scope_value),
                "limit": self.limit,
                "period": self.period,
                "retry_after": decision.retry_after,
            },
        )
        raise RateLimitExceeded(
            tool_name=self.info.name,
            limit=self.limit,
            period=self.period,
            retry_after=decision.retry_after,
            scope_value=scope_value,
        )

    def wrap(self) -> Any:
        # The hot path: locals only, no inspect, one store operation, emit() returns at once without sinks.
        fn, name, prefix, get_scope, index = self.info.fn, self.info.name, self.prefix, self.get_scope, self.scope_index
        limit, period, own_store, refuse = self.limit, self.period, self.store, self.refuse
        keys: dict[str, str] = {}  # str scope value -> key (bounded): skips building keys for recurring values

        def key_of(value: Any) -> str:
            key = prefix + encode_value(value)
            if type(value) is str and len(value) <= 256 and len(keys) < _KEY_CACHE:
                keys[value] = key
            return key

        if self.info.is_async:

            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                if get_scope is None:
                    key, scope_value = prefix, None
                else:
                    scope_value = args[index] if len(args) > index else get_scope(args, kwargs)
                    key = keys.get(scope_value) if type(scope_value) is str else None  # type: ignore[assignment]
                    if key is None:
                        key = key_of(scope_value)
                store = own_store if own_store is not None else get_default_store()
                decision = await store.ahit_window(key, limit, period)
                if not decision.allowed:
                    refuse(decision, scope_value)
                emit("tool_guard", "rate_limit", "allowed", tool=name)
                return await fn(*args, **kwargs)

            return finish(async_wrapper, self.info)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if get_scope is None:
                key, scope_value = prefix, None
            else:
                scope_value = args[index] if len(args) > index else get_scope(args, kwargs)
                key = keys.get(scope_value) if type(scope_value) is str else None  # type: ignore[assignment]
                if key is None:
                    key = key_of(scope_value)
            store = own_store if own_store is not None else get_default_store()
            decision = store.hit_window(key, limit, period)
            if not decision.allowed:
                refuse(decision, scope_value)
            emit("tool_guard", "rate_limit", "allowed", tool=name)
            return fn(*args, **kwargs)

        return finish(wrapper, self.info)
