"""``prove``: a read tool mints facts from what it returns, for :func:`actguard.enforce` to require later."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Literal, TypeVar, cast

from actguard.context import Session, _current_session
from actguard.custody._extract import Extractor, compile_extract
from actguard.custody._facts import FactTypeError, canonical, describe, register_prover
from actguard.exceptions import ConfigError, GuardError
from actguard.guards._wrap import ToolInfo, check_int, check_name, check_store, finish, not_a_function
from actguard.reporting import emit
from actguard.stores import Store, get_default_store

__all__ = ["prove"]

F = TypeVar("F", bound=Callable[..., Any])

_ON_TOO_MANY = ("block", "truncate")


def no_session(guard: str, tool: str) -> GuardError:
    """The refusal for ``prove`` / ``enforce`` called outside any :func:`actguard.session`."""
    return GuardError(
        "NO_SESSION",
        f"{guard} on {tool!r} needs an active chain-of-custody session; none is open here.",
        {"tool": tool},
        "The application must wrap the agent's work in `with actguard.session(session_id, scope):` "
        "(threads and tasks started without the context see no session: use actguard.bind_context).",
    )


def prove(
    kind: str,
    extract: str | Callable[[Any], Any],
    ttl: float = 3600.0,
    max_items: int = 1000,
    on_too_many: Literal["block", "truncate"] = "block",
    *,
    store: Store | None = None,
    name: str | None = None,
) -> Callable[[F], F]:
    """Decorate a read tool so that the ids it returns become facts of the current session.

    After the tool returns, ``extract`` picks the ids out of its result (see :mod:`actguard.custody._extract`);
    each becomes the fact ``(kind, id)`` in the session's namespace for ``ttl`` seconds. A write tool decorated with
    ``enforce([RequireFact(arg, kind)])`` then accepts only those ids. Ids are canonical text (``1`` and ``"1"`` are
    one fact; see :mod:`actguard.custody._facts`); ``None`` is skipped, never minted.

    Outside any :func:`actguard.session` the tool does not run: ``GuardError("NO_SESSION")``. If the tool raises,
    nothing is minted. A tool that returns a generator gets it read into a list, and the caller receives an
    iterator over that list. A plain function that returns an awaitable (a wrapper around a coroutine function)
    gets back an awaitable that mints when it is awaited.

    More than ``max_items`` distinct ids: with ``on_too_many="block"`` nothing is minted and
    ``GuardError("TOO_MANY_RESULTS")`` is raised *after* the read happened (the tool ran; its result is dropped and
    no id from it can be used), so the model must narrow its query; with ``"truncate"`` the first ``max_items`` ids
    are minted and the result is returned whole.

    Args:
        kind: the fact kind, e.g. ``"order_id"``; enforce's ``RequireFact`` names the same kind.
        extract: a key or attribute name, a dotted path (``"orders.id"``), or a callable ``result -> id | ids``.
        ttl: seconds each fact stays valid (> 0); the store evicts it after that.
        max_items: most distinct ids one call may mint (>= 1).
        on_too_many: ``"block"`` (default) or ``"truncate"``.
        store: where facts live; ``None`` means the default store at call time.
        name: the tool's name in refusals and events (the name a model calls it by); ``None``: ``__name__``.

    Raises:
        ConfigError: at decoration, for an invalid argument; when the result holds a value that is not an id
            (e.g. a float or a dict at the end of the path), after the read.
    """
    if callable(kind) and not isinstance(kind, str):
        raise not_a_function(kind, "prove", "@actguard.prove(kind='order_id', extract='id')")
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"prove(kind=...) must be a non-empty str naming the fact kind, got {kind!r}")
    extractor = compile_extract(extract, "prove(extract=...)")
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not math.isfinite(ttl) or ttl <= 0:
        raise ConfigError(f"prove(ttl=...) must be a finite number of seconds > 0, got {ttl!r}")
    check_int(max_items, "prove(max_items=...)")
    if on_too_many not in _ON_TOO_MANY:
        raise ConfigError(f"prove(on_too_many=...) must be one of {list(_ON_TOO_MANY)}, got {on_too_many!r}")
    check_store(store, "prove(store=...)")
    check_name(name, "prove(name=...)")
    tool_name = name
    plan = _ProvePlan(kind, extractor, float(ttl), max_items, on_too_many == "block", store)

    def decorate(fn: F) -> F:
        from inspect import isasyncgenfunction, isawaitable  # here: `import inspect` is slow

        if isasyncgenfunction(fn):
            raise ConfigError(
                f"prove cannot decorate async generator function {getattr(fn, '__qualname__', fn)!r}; "
                "accepted: functions, coroutine functions, generator functions (read into a list)"
            )
        info = ToolInfo.of(fn, "prove", tool_name)
        register_prover(kind, info.name)
        name = info.name

        async def mint_after(pending: Awaitable[Any], session: Session) -> Any:
            result, ids, truncated = plan.ids(await pending, name, session)
            if ids:
                await (plan.store or get_default_store()).afacts_add(session.namespace, kind, ids, plan.ttl)
            plan.recorded(name, session, len(ids), truncated)
            return result

        if info.is_async:

            async def aproved(*args: Any, **kwargs: Any) -> Any:
                session = _current_session.get()
                if session is None:
                    emit("custody", "prove", "blocked", tool=name, payload={"code": "NO_SESSION", "kind": kind})
                    raise no_session("prove", name)
                return await mint_after(fn(*args, **kwargs), session)

            return cast(F, finish(aproved, info))

        def proved(*args: Any, **kwargs: Any) -> Any:
            session = _current_session.get()
            if session is None:
                emit("custody", "prove", "blocked", tool=name, payload={"code": "NO_SESSION", "kind": kind})
                raise no_session("prove", name)
            result = fn(*args, **kwargs)
            if isawaitable(result):  # a plain function handing back a coroutine: mint when it is awaited
                return mint_after(result, session)
            result, ids, truncated = plan.ids(result, name, session)
            if ids:
                (plan.store or get_default_store()).facts_add(session.namespace, kind, ids, plan.ttl)
            plan.recorded(name, session, len(ids), truncated)
            return result

        return cast(F, finish(proved, info))

    return decorate


class _ProvePlan:
    """The decision logic of one ``prove``: which ids a result mints (shared by the sync and async shells)."""

    __slots__ = ("block", "extractor", "kind", "max_items", "store", "ttl")

    def __init__(
        self, kind: str, extractor: Extractor, ttl: float, max_items: int, block: bool, store: Store | None
    ) -> None:
        self.kind = kind
        self.extractor = extractor
        self.ttl = ttl
        self.max_items = max_items
        self.block = block
        self.store = store

    def ids(self, result: Any, tool: str, session: Session) -> tuple[Any, list[str], bool]:
        """``(result to return, ids to mint, truncated)``; raises TOO_MANY_RESULTS (block) or ConfigError."""
        if isinstance(result, Iterator):
            items = list(result)
            result, source = iter(items), items
        else:
            source = result
        seen: dict[str, None] = {}
        limit = self.max_items
        too_many = False
        for raw in self.extractor(source):
            try:
                value = canonical(raw)
            except FactTypeError as exc:
                raise ConfigError(
                    f"prove(kind={self.kind!r}, extract=...) on {tool!r} found {describe(raw)} in the result: {exc}. "
                    "Point extract at the id field, or pass a callable that returns ids."
                ) from None
            if value in seen:
                continue
            if len(seen) == limit:
                too_many = True
                break
            seen[value] = None
        user = session.scope.get("user_id")
        if too_many and self.block:
            emit(
                "custody",
                "prove",
                "blocked",
                tool=tool,
                user_id=user,
                payload={"code": "TOO_MANY_RESULTS", "kind": self.kind, "max_items": limit},
            )
            raise GuardError(
                "TOO_MANY_RESULTS",
                f"{tool} returned more than {limit} {self.kind} values; none of them may be used.",
                {"tool": tool, "kind": self.kind, "max_items": limit},
                f"Call {tool} again with a narrower query that returns at most {limit} results.",
            )
        return result, list(seen), too_many

    def recorded(self, tool: str, session: Session, count: int, truncated: bool) -> None:
        """Report the facts minted by one call."""
        emit(
            "custody",
            "prove",
            "recorded",
            tool=tool,
            user_id=session.scope.get("user_id"),
            payload={"kind": self.kind, "count": count, "truncated": truncated},
        )
