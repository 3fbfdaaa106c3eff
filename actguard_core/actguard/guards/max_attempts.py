"""``max_attempts``: at most N calls of a tool per run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, overload

from actguard.context import current_run
from actguard.exceptions import MaxAttemptsExceeded, MissingRuntimeContextError
from actguard.guards._keys import encode
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
from actguard.stores import Store, get_default_store

__all__ = ["max_attempts"]

F = TypeVar("F", bound=Callable[..., Any])
_DAY = 86_400.0


@overload
def max_attempts(
    calls: int, *, ttl_s: float = _DAY, store: Store | None = None, name: str | None = None
) -> Callable[[F], F]: ...


@overload
def max_attempts(calls: Callable[..., Any], /) -> NoReturn: ...


def max_attempts(
    calls: Any = None, *, ttl_s: float = _DAY, store: Store | None = None, name: str | None = None
) -> Callable[[F], F]:
    """Allow at most ``calls`` calls of the tool per run (per :class:`actguard.RunContext`).

    Every call that gets past this guard is an attempt, whether it then succeeds, raises, or is refused by a guard
    inside this one; the call after ``calls`` raises :class:`actguard.MaxAttemptsExceeded` without running. The
    count is per run and per tool (``name=``, else module + qualified name), so two runs, or two tools, never share it.

    Args:
        calls: attempts allowed per run, >= 1.
        ttl_s: seconds a run's count is kept after its first attempt (so counts of finished runs are evicted);
            default one day. A run longer than this starts counting again.
        store: where counts live; ``None`` means the default store at call time.
        name: the tool's identity for this guard's state and its name in errors and events (the name a model
            calls it by); functions guarded under one ``name`` share state. ``None``: the function's ``__name__``
            in messages, and its module + qualified name as identity (closures from one factory kept apart, see
            :mod:`actguard.guards._identity`).

    Raises:
        ConfigError: at decoration, for ``calls < 1`` or ``ttl_s <= 0``.
        MissingRuntimeContextError: at call time outside any RunContext.
        MaxAttemptsExceeded: at call time, with ``limit``, ``attempts`` (this call's number) and ``run_id``.
        StoreUnavailable: at call time, when a shared store cannot be reached: always fails closed.

    Example::

        @max_attempts(calls=2)
        def lookup_customer(customer_id: str) -> dict: ...

        with RunContext(run_id="req-123"):
            lookup_customer("cus_1")
            lookup_customer("cus_1")
    """
    if callable(calls):
        raise not_a_function(calls, "max_attempts", "@max_attempts(calls=3)")
    if calls is None:
        raise missing_arguments("max_attempts(calls=...)", "@max_attempts(calls=3)")
    limit = check_int(calls, "max_attempts(calls=...)")
    ttl = check_positive(ttl_s, "max_attempts(ttl_s=...)")
    check_store(store, "max_attempts(store=...)")
    check_name(name, "max_attempts(name=...)")

    def decorate(fn: F) -> F:
        return _wrap(ToolInfo.of(fn, "max_attempts", name), limit, ttl, store)  # type: ignore[no-any-return]

    return decorate


def _wrap(info: ToolInfo, limit: int, ttl: float, own_store: Store | None) -> Any:
    fn, tool = info.fn, info.name
    prefix = encode("max_attempts", info.ident)

    def no_run() -> NoReturn:
        emit("tool_guard", "max_attempts", "blocked", tool=tool, payload={"reason": "no_run"})
        raise MissingRuntimeContextError("max_attempts", tool)

    def refuse(attempts: int, run_id: str) -> NoReturn:
        emit("tool_guard", "max_attempts", "blocked", tool=tool, payload={"limit": limit, "attempts": attempts})
        raise MaxAttemptsExceeded(tool_name=tool, limit=limit, attempts=attempts, run_id=run_id)

    # The hot path stays inline: one contextvar read, one store operation, and the key of the last run seen
    # reused (an agent run calls its tools many times); the memo is one tuple, swapped atomically.
    memo: list[tuple[str, str]] = [("", "")]

    def key_for(run_id: str) -> str:
        key = f"{prefix}{len(run_id)}:{run_id}"
        memo[0] = (run_id, key)
        return key

    if info.is_async:

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            run = current_run()
            if run is None:
                no_run()
            run_id = run.run_id
            last = memo[0]
            key = last[1] if last[0] is run_id else key_for(run_id)
            store = own_store if own_store is not None else get_default_store()
            attempts = await store.aincr(key, ttl)
            if attempts > limit:
                refuse(attempts, run_id)
            emit("tool_guard", "max_attempts", "allowed", tool=tool)
            return await fn(*args, **kwargs)

        return finish(async_wrapper, info)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        run = current_run()
        if run is None:
            no_run()
        run_id = run.run_id
        last = memo[0]
        key = last[1] if last[0] is run_id else key_for(run_id)
        store = own_store if own_store is not None else get_default_store()
        attempts = store.incr(key, ttl)
        if attempts > limit:
            refuse(attempts, run_id)
        emit("tool_guard", "max_attempts", "allowed", tool=tool)
        return fn(*args, **kwargs)

    return finish(wrapper, info)
