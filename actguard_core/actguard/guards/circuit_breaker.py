"""``circuit_breaker``: stop calling a dependency that keeps failing, then let one probe test it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NoReturn, TypeVar, overload

from actguard.exceptions import ActGuardError, CircuitOpenError, ConfigError, ToolTimeoutError
from actguard.guards._failures import FAILURE_KINDS, FailureKind, failure_kind
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
    refuse_generators,
)
from actguard.reporting import emit
from actguard.stores import BreakerDecision, Store, get_default_store

__all__ = ["DEFAULT_FAIL_ON", "FAILURE_KINDS", "circuit_breaker", "failure_kind"]

F = TypeVar("F", bound=Callable[..., Any])
_USAGE = "@circuit_breaker(name='postgres', max_fails=3, reset_timeout=60)"

DEFAULT_FAIL_ON: tuple[FailureKind, ...] = ("transport", "timeout", "overloaded", "throttled", "unknown")
"""Failure kinds that count by default: the dependency is unreachable, slow, overloaded or shedding load, or failed
in a way actguard cannot classify. ``auth``, ``invalid_input``, ``not_found`` and ``conflict`` mean the dependency
answered (the request was wrong), so they do not count."""

FailOn = Iterable[str | type[BaseException]] | str | type[BaseException]


@overload
def circuit_breaker(
    name: str,
    max_fails: int = 5,
    reset_timeout: float = 30.0,
    *,
    fail_on: FailOn = DEFAULT_FAIL_ON,
    ignore_on: FailOn = (),
    store: Store | None = None,
    tool_name: str | None = None,
) -> Callable[[F], F]: ...


@overload
def circuit_breaker(name: Callable[..., Any], /) -> NoReturn: ...


def circuit_breaker(
    name: Any = None,
    max_fails: int = 5,
    reset_timeout: float = 30.0,
    *,
    fail_on: FailOn = DEFAULT_FAIL_ON,
    ignore_on: FailOn = (),
    store: Store | None = None,
    tool_name: str | None = None,
) -> Callable[[F], F]:
    """Fail fast while the dependency ``name`` keeps failing.

    States: **closed** (calls go through) until ``max_fails`` consecutive counted failures, then **open** (calls
    raise :class:`actguard.CircuitOpenError` at once, without running) for ``reset_timeout`` seconds, then
    **half-open**: exactly one call (the probe) goes through while the others still fail fast; its success closes
    the circuit, its failure opens it for another ``reset_timeout``.

    State is shared by ``name``: every tool naming ``"postgres"`` shares one circuit (in every process, with a
    shared store). No lock is held while the tool runs: each state change is one atomic store operation.

    Which exceptions count: each is classified into a failure kind (see :func:`failure_kind`: ``transport``,
    ``timeout``, ``overloaded``, ``throttled``, ``auth``, ``invalid_input``, ``not_found``, ``conflict``,
    ``unknown``). A :class:`actguard.ToolTimeoutError` from an inner ``timeout`` guard is a ``timeout``. An exception
    counts when its type (or a base) is listed in ``fail_on``, or its kind is, unless its type or kind is listed in
    ``ignore_on``; exception types take precedence over kinds. Exceptions that do not count leave the failure count
    unchanged (a probe's slot is handed back), as do actguard's own refusals from inner guards and cancellation
    (``asyncio.CancelledError``, ``KeyboardInterrupt``). A successful call resets the count; a call that saw no
    failures when it started skips that write, so a healthy circuit costs one store operation per call.

    Events (category ``tool_guard``, name ``circuit_breaker``): ``allowed`` / ``blocked`` per call, ``opened`` when a
    failure opens the circuit, ``closed`` when a probe's success closes it.

    Args:
        name: the dependency's name, shared by every tool that uses it.
        max_fails: consecutive counted failures that open the circuit, >= 1.
        reset_timeout: seconds the circuit stays open before a probe, > 0.
        fail_on: kinds (strings from ``FAILURE_KINDS``) and exception types that count as failures.
            Default :data:`DEFAULT_FAIL_ON`; passing it replaces the default (extend with
            ``fail_on=[*DEFAULT_FAIL_ON, MyError]``).
        ignore_on: kinds and exception types that never count, overriding ``fail_on``.
        store: where the circuit lives; ``None`` means the default store at call time.
        tool_name: the guarded tool's name in errors and events (the name a model calls it by; ``name`` is the
            circuit's, shared by design); ``None``: the function's ``__name__``.

    Raises:
        ConfigError: at decoration, for a bad argument (an unknown kind, a kind or type in both lists, ...).
        CircuitOpenError: at call time while open, with ``dependency_name``, ``retry_after`` and ``failures``.
        StoreUnavailable: at call time, when a shared store cannot be reached (the function is not called),
            unless the store was built with ``fail_open=True`` or ``fail_open=["circuit_breaker"]``: then the
            circuit counts as closed and the outage is reported.

    Example::

        @circuit_breaker(name="postgres", max_fails=3, reset_timeout=60)
        def write_order(order_id: str) -> None: ...
    """
    if callable(name):
        raise not_a_function(name, "circuit_breaker", _USAGE)
    if name is None:
        raise missing_arguments("circuit_breaker(name=...)", _USAGE)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"circuit_breaker(name=...) must be a non-empty str naming the dependency, got {name!r}")
    fails = check_int(max_fails, "circuit_breaker(max_fails=...)")
    reset = check_positive(reset_timeout, "circuit_breaker(reset_timeout=...)")
    fail_kinds, fail_types = _parse_kinds(fail_on, "fail_on")
    ignore_kinds, ignore_types = _parse_kinds(ignore_on, "ignore_on")
    both = sorted(fail_kinds & ignore_kinds) + sorted(t.__qualname__ for t in set(fail_types) & set(ignore_types))
    if both:
        raise ConfigError(f"circuit_breaker: {both} listed in both fail_on and ignore_on; list each in one only")
    check_store(store, "circuit_breaker(store=...)")
    check_name(tool_name, "circuit_breaker(tool_name=...)")
    policy = _Policy(name, fails, reset, fail_kinds, fail_types, ignore_kinds, ignore_types, store)

    def decorate(fn: F) -> F:
        refuse_generators(fn, "circuit_breaker")
        return policy.wrap(ToolInfo.of(fn, "circuit_breaker", tool_name))  # type: ignore[no-any-return]

    return decorate


def _parse_kinds(value: Any, arg: str) -> tuple[frozenset[str], tuple[type[BaseException], ...]]:
    items = [value] if isinstance(value, (str, type)) else value
    accepted = f"failure kinds {list(FAILURE_KINDS)} and exception types"
    try:
        items = list(items)
    except TypeError:
        raise ConfigError(f"circuit_breaker({arg}=...) must be a list of {accepted}, got {value!r}") from None
    kinds: set[str] = set()
    types: list[type[BaseException]] = []
    for item in items:
        if isinstance(item, str) and item in FAILURE_KINDS:
            kinds.add(str.__str__(item))  # a plain str: a FailureKind member hashes by its name, not its value
        elif isinstance(item, type) and issubclass(item, BaseException):
            types.append(item)
        else:
            raise ConfigError(f"circuit_breaker({arg}=...) accepts {accepted}; got {item!r}")
    return frozenset(kinds), tuple(types)


class _Policy:
    """Configuration and decisions of one circuit_breaker(...) declaration (may decorate several tools)."""

    __slots__ = (
        "fail_kinds",
        "fail_types",
        "ignore_kinds",
        "ignore_types",
        "key",
        "max_fails",
        "name",
        "reset",
        "store",
    )

    def __init__(
        self,
        name: str,
        max_fails: int,
        reset: float,
        fail_kinds: frozenset[str],
        fail_types: tuple[type[BaseException], ...],
        ignore_kinds: frozenset[str],
        ignore_types: tuple[type[BaseException], ...],
        store: Store | None,
    ) -> None:
        self.name = name
        self.key = encode("circuit_breaker", name)
        self.max_fails = max_fails
        self.reset = reset
        self.fail_kinds = fail_kinds
        self.fail_types = fail_types
        self.ignore_kinds = ignore_kinds
        self.ignore_types = ignore_types
        self.store = store

    def counts(self, exc: BaseException) -> bool:
        """Whether ``exc`` counts as a failure of the dependency."""
        if not isinstance(exc, Exception):
            return False  # cancellation, KeyboardInterrupt, SystemExit: says nothing about the dependency
        if isinstance(exc, ActGuardError) and not isinstance(exc, ToolTimeoutError):
            return False  # an inner guard refused the call; the dependency was not reached
        if self.ignore_types and isinstance(exc, self.ignore_types):
            return False
        if self.fail_types and isinstance(exc, self.fail_types):
            return True
        kind = failure_kind(exc)
        return kind not in self.ignore_kinds and kind in self.fail_kinds

    def refuse(self, decision: BreakerDecision, tool: str) -> NoReturn:
        """Report and raise a fail-fast refusal."""
        emit(
            "tool_guard",
            "circuit_breaker",
            "blocked",
            tool=tool,
            payload={"dependency": self.name, "retry_after": decision.retry_after, "failures": decision.failures},
        )
        raise CircuitOpenError(
            dependency_name=self.name, retry_after=decision.retry_after, tool_name=tool, failures=decision.failures
        )

    def failed(self, state: str, failures: int, probe: bool, tool: str, exc: BaseException) -> None:
        """Report the failure that opened the circuit (the max_fails-th in a row, or a failed probe)."""
        if state == "open" and (probe or failures == self.max_fails):
            emit(
                "tool_guard",
                "circuit_breaker",
                "opened",
                tool=tool,
                payload={"dependency": self.name, "failures": failures, "error": type(exc).__name__},
            )

    def closed(self, tool: str) -> None:
        """Report that a successful probe closed the circuit."""
        emit("tool_guard", "circuit_breaker", "closed", tool=tool, payload={"dependency": self.name})

    def wrap(self, info: ToolInfo) -> Any:
        fn, tool, key, max_fails, reset = info.fn, info.name, self.key, self.max_fails, self.reset
        own_store, counts, refuse, failed, closed = self.store, self.counts, self.refuse, self.failed, self.closed

        if info.is_async:

            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                store = own_store if own_store is not None else get_default_store()
                decision = await store.abreaker_acquire(key, reset)
                if not decision.allowed:
                    refuse(decision, tool)
                emit("tool_guard", "circuit_breaker", "allowed", tool=tool)
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    if counts(exc):
                        snap = await store.abreaker_record(
                            key, success=False, probe=decision.probe, max_fails=max_fails, reset_timeout=reset
                        )
                        failed(snap.state, snap.failures, decision.probe, tool, exc)
                    else:
                        await store.abreaker_release(key, probe=decision.probe)
                    raise
                if decision.probe or decision.failures:
                    await store.abreaker_record(
                        key, success=True, probe=decision.probe, max_fails=max_fails, reset_timeout=reset
                    )
                    if decision.probe:
                        closed(tool)
                return result

            return finish(async_wrapper, info)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            store = own_store if own_store is not None else get_default_store()
            decision = store.breaker_acquire(key, reset)
            if not decision.allowed:
                refuse(decision, tool)
            emit("tool_guard", "circuit_breaker", "allowed", tool=tool)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                if counts(exc):
                    snap = store.breaker_record(
                        key, success=False, probe=decision.probe, max_fails=max_fails, reset_timeout=reset
                    )
                    failed(snap.state, snap.failures, decision.probe, tool, exc)
                else:
                    store.breaker_release(key, probe=decision.probe)
                raise
            if decision.probe or decision.failures:
                store.breaker_record(key, success=True, probe=decision.probe, max_fails=max_fails, reset_timeout=reset)
                if decision.probe:
                    closed(tool)
            return result

        return finish(wrapper, info)
