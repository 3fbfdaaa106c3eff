"""``idempotent``: at most one execution per (tool, idempotency_key) in a run."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NoReturn, TypeVar, overload

from actguard.context import current_run
from actguard.exceptions import (
    CircuitOpenError,
    ConfigError,
    DuplicateIdempotencyKey,
    GuardError,
    IdempotencyError,
    IdempotencyInProgress,
    IdempotencyOutcomeUnknown,
    LoopDetected,
    MaxAttemptsExceeded,
    MissingRuntimeContextError,
    RateLimitExceeded,
    StoreUnavailable,
)
from actguard.guards._keys import encode
from actguard.guards._signature import argument_getter, positional_index
from actguard.guards._wrap import ToolInfo, check_name, check_positive, check_store, finish, refuse_generators
from actguard.reporting import emit
from actguard.stores import Claim, Store, get_default_store
from actguard.stores._opid import LostClaims, new_op_id

__all__ = ["NOT_RUN_ERRORS", "idempotent"]

F = TypeVar("F", bound=Callable[..., Any])
ON_DUPLICATE = ("return", "raise")
KEY_PARAM = "idempotency_key"
_DUPLICATE = {"reason": "duplicate"}
_LOST = LostClaims()  # claims a timed-out store may have taken: the same caller claims them again as their owner


def _owner(store: Store, key: str) -> str:
    """The owner id for a claim: a lost claim's own id, or a fresh one (memory never loses a claim: none)."""
    if _LOST:
        owner = _LOST.owner(key)
        if owner is not None:
            return owner
    return "" if store.backend == "memory" else new_op_id()


def _claimed(key: str, owner: str, error: BaseException | None) -> None:
    """Track a claim whose outcome is unknown (``error``: the store failed), or forget it once answered."""
    if error is not None:
        if owner:
            _LOST.remember(key, owner)
    elif _LOST:
        _LOST.forget(key)


NOT_RUN_ERRORS: tuple[type[BaseException], ...] = (
    RateLimitExceeded,
    CircuitOpenError,
    MaxAttemptsExceeded,
    LoopDetected,
    IdempotencyError,
    GuardError,
    MissingRuntimeContextError,
)
"""actguard refusals raised by guards inside ``idempotent`` before the tool ran: they always release the key."""


@overload
def idempotent(fn: F, /) -> F: ...


@overload
def idempotent(
    *,
    ttl_s: float = ...,
    on_duplicate: str = ...,
    safe_exceptions: Iterable[type[BaseException]] = ...,
    store: Store | None = ...,
    name: str | None = ...,
) -> Callable[[F], F]: ...


def idempotent(
    fn: F | None = None,
    /,
    *,
    ttl_s: float = 3600.0,
    on_duplicate: str = "return",
    safe_exceptions: Iterable[type[BaseException]] = (),
    store: Store | None = None,
    name: str | None = None,
) -> F | Callable[[F], F]:
    """Run the tool at most once per ``idempotency_key`` within ``ttl_s`` seconds, per run and per tool.

    The function must have a parameter named ``idempotency_key`` (passed by keyword or position); its value must be
    a non-empty str. For each (run, tool, key):

    * the first call claims the key and runs; its result is kept for ``ttl_s`` seconds;
    * a later call returns that result without running (``on_duplicate="return"``) or raises
      :class:`actguard.DuplicateIdempotencyKey` (``on_duplicate="raise"``);
    * a call while the first one is still running raises :class:`actguard.IdempotencyInProgress`;
    * if the first call raised an exception declared safe (``safe_exceptions``, actguard refusals from guards
      inside this one such as a rate limit, or cancellation: ``asyncio.CancelledError``, ``KeyboardInterrupt``),
      the key is released and the next call runs again; any other exception may have had effects, so later calls
      raise :class:`actguard.IdempotencyOutcomeUnknown` until ``ttl_s`` ends.

    Works bare (``@idempotent``) or with arguments.

    Args:
        ttl_s: seconds a key (and its result) is remembered, > 0. Default one hour.
        on_duplicate: ``"return"`` (the first call's result) or ``"raise"``.
        safe_exceptions: exception types that prove the call had no effect, so the key is released.
        store: where claims live; ``None`` means the default store at call time. Results are kept as objects in
            memory stores; shared stores need results they can serialise.
        name: the tool's identity for this guard's state and its name in errors and events (the name a model
            calls it by); functions guarded under one ``name`` share state. ``None``: the function's ``__name__``
            in messages, and its module + qualified name as identity (closures from one factory kept apart, see
            :mod:`actguard.guards._identity`).

    Raises:
        ConfigError: at decoration, for a function without an ``idempotency_key`` parameter, an unknown
            ``on_duplicate``, ``ttl_s <= 0`` or a non-exception in ``safe_exceptions``; at call time for an
            ``idempotency_key`` that is not a non-empty str.
        MissingRuntimeContextError: at call time outside any RunContext.
        StoreUnavailable: at call time, when a shared store cannot be reached: idempotency always fails closed
            (the function is not called, whatever the store's ``fail_open``).

    Example::

        @idempotent(ttl_s=600)
        def create_invoice(user_id: str, amount_cents: int, *, idempotency_key: str) -> str: ...
    """
    ttl = check_positive(ttl_s, "idempotent(ttl_s=...)")
    if on_duplicate not in ON_DUPLICATE:
        raise ConfigError(f"idempotent(on_duplicate=...) must be one of {list(ON_DUPLICATE)}, got {on_duplicate!r}")
    safe = _parse_safe(safe_exceptions)
    check_store(store, "idempotent(store=...)")
    check_name(name, "idempotent(name=...)")

    def decorate(func: F) -> F:
        refuse_generators(func, "idempotent")
        return _Idempotent(ToolInfo.of(func, "idempotent", name), ttl, on_duplicate == "raise", safe, store).wrap()  # type: ignore[no-any-return]

    if fn is not None:
        if not callable(fn):
            raise ConfigError(f"idempotent takes keyword arguments only (e.g. @idempotent(ttl_s=600)), got {fn!r}")
        return decorate(fn)
    return decorate


def _parse_safe(value: Any) -> tuple[type[BaseException], ...]:
    items = [value] if isinstance(value, type) else value
    try:
        items = tuple(items)
    except TypeError:
        items = (value,)
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise ConfigError(f"idempotent(safe_exceptions=...) must be exception types, got {item!r}")
    return items


class _Idempotent:
    """Decisions of one decorated tool; ``wrap`` adds the sync or async shell."""

    __slots__ = ("get_key", "info", "prefix", "raise_duplicate", "release_on", "store", "ttl")

    def __init__(
        self,
        info: ToolInfo,
        ttl: float,
        raise_duplicate: bool,
        safe: tuple[type[BaseException], ...],
        store: Store | None,
    ) -> None:
        self.info = info
        self.ttl = ttl
        self.raise_duplicate = raise_duplicate
        self.release_on = NOT_RUN_ERRORS + safe
        self.store = store
        self.prefix = encode("idempotent", info.ident)
        if KEY_PARAM not in info.signature.parameters:
            raise ConfigError(
                f"idempotent needs a parameter named {KEY_PARAM!r} on {info.ident!r}; its parameters are "
                f"{list(info.signature.parameters)}"
            )
        self.get_key = argument_getter(info.signature, KEY_PARAM, where="idempotent")

    def no_run(self) -> NoReturn:
        """Refuse a call made outside any RunContext."""
        tool = self.info.name
        emit("tool_guard", "idempotent", "blocked", tool=tool, payload={"reason": "no_run"})
        raise MissingRuntimeContextError("idempotent", tool)

    def bad_key(self, value: Any) -> NoReturn:
        """Refuse an idempotency_key that is not a non-empty str."""
        raise ConfigError(f"{self.info.name}: {KEY_PARAM} must be a non-empty str, got {value!r}")

    def refuse(self, claim: Claim, idem_key: str) -> NoReturn:
        """Report and raise the refusal that ``claim`` calls for."""
        tool = self.info.name
        reason = {"done": "duplicate", "in_progress": "in_progress", "unknown": "outcome_unknown"}[claim.status]
        emit("tool_guard", "idempotent", "blocked", tool=tool, payload={"reason": reason})
        if claim.status == "done":
            raise DuplicateIdempotencyKey(tool_name=tool, idempotency_key=idem_key)
        if claim.status == "in_progress":
            raise IdempotencyInProgress(tool_name=tool, idempotency_key=idem_key)
        raise IdempotencyOutcomeUnknown(tool_name=tool, idempotency_key=idem_key, retry_after=claim.retry_after)

    def releases(self, exc: BaseException) -> bool:
        """Whether a failed first call leaves no effects (release the key) rather than an unknown outcome."""
        return not isinstance(exc, Exception) or isinstance(exc, self.release_on)

    def wrap(self) -> Any:
        # The hot path stays inline: one contextvar read, one key, one claim; the rare outcomes are method calls.
        fn, tool, ttl, own_store, prefix = self.info.fn, self.info.name, self.ttl, self.store, self.prefix
        get_key, index = self.get_key, positional_index(self.info.signature, KEY_PARAM)
        raise_duplicate, no_run, bad_key, refuse, releases = (
            self.raise_duplicate,
            self.no_run,
            self.bad_key,
            self.refuse,
            self.releases,
        )

        def key_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str]:
            run = current_run()
            if run is None:
                no_run()
            value = args[index] if len(args) > index else get_key(args, kwargs)
            if type(value) is not str or not value:
                bad_key(value)
            run_id = run.run_id
            return f"{prefix}{len(run_id)}:{run_id}{len(value)}:{value}", value

        if self.info.is_async:

            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                key, idem_key = key_of(args, kwargs)
                store = own_store if own_store is not None else get_default_store()
                owner = _owner(store, key)
                try:
                    claim = await store.aidem_claim(key, ttl, owner)
                except StoreUnavailable as exc:
                    _claimed(key, owner, exc)
                    raise
                _claimed(key, owner, None)
                if claim.status != "claimed":
                    if claim.status == "done" and not raise_duplicate:
                        emit("tool_guard", "idempotent", "intervened", tool=tool, payload=_DUPLICATE)
                        return claim.result
                    refuse(claim, idem_key)
                emit("tool_guard", "idempotent", "allowed", tool=tool)
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    if releases(exc):
                        await store.aidem_release(key)
                    else:
                        await store.aidem_mark_unknown(key, ttl)
                    raise
                await store.aidem_complete(key, result, ttl)
                return result

            return finish(async_wrapper, self.info)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key, idem_key = key_of(args, kwargs)
            store = own_store if own_store is not None else get_default_store()
            owner = _owner(store, key)
            try:
                claim = store.idem_claim(key, ttl, owner)
            except StoreUnavailable as exc:
                _claimed(key, owner, exc)
                raise
            _claimed(key, owner, None)
            if claim.status != "claimed":
                if claim.status == "done" and not raise_duplicate:
                    emit("tool_guard", "idempotent", "intervened", tool=tool, payload=_DUPLICATE)
                    return claim.result
                refuse(claim, idem_key)
            emit("tool_guard", "idempotent", "allowed", tool=tool)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                if releases(exc):
                    store.idem_release(key)
                else:
                    store.idem_mark_unknown(key, ttl)
                raise
            store.idem_complete(key, result, ttl)
            return result

        return finish(wrapper, self.info)
