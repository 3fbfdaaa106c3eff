"""Run and session scope, carried in contextvars.

A :class:`RunContext` scopes run state (``max_attempts`` counts, ``idempotent`` claims); a :func:`session` scopes
chain-of-custody facts. Both follow the code through ``await`` and into tasks created inside them. A thread started
without copying the context sees *no* run: actguard never falls back to "the only run in the process". To carry the
current run into a thread pool use :class:`ContextThreadPoolExecutor` or wrap the callable with :func:`bind_context`.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from actguard.exceptions import ConfigError

if TYPE_CHECKING:
    from actguard._executor import ContextThreadPoolExecutor

__all__ = [
    "ContextThreadPoolExecutor",
    "RunContext",
    "Session",
    "bind_context",
    "current_run",
    "current_session",
    "session",
]

P = ParamSpec("P")
R = TypeVar("R")

_current_run: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar("actguard_run", default=None)
_current_session: contextvars.ContextVar[Session | None] = contextvars.ContextVar("actguard_session", default=None)


class RunContext:
    """Scope of one agent run (one user request). Sync and async context manager.

    Args:
        run_id: identifies the run in events and in run-scoped guard state; a random one is made when absent.
        user_id: the user the run acts for, reported with events.

    Nested contexts are independent runs; leaving the inner one restores the outer one.
    """

    __slots__ = ("_token", "run_id", "user_id")

    def __init__(self, run_id: str | None = None, user_id: str | None = None) -> None:
        if run_id is not None and (not isinstance(run_id, str) or not run_id):
            raise ConfigError(f"RunContext(run_id=...) must be a non-empty str or None, got {run_id!r}")
        if user_id is not None and not isinstance(user_id, str):
            raise ConfigError(f"RunContext(user_id=...) must be a str or None, got {user_id!r}")
        self.run_id: str = run_id if run_id is not None else _new_run_id()
        self.user_id = user_id
        self._token: contextvars.Token[RunContext | None] | None = None

    def __enter__(self) -> RunContext:
        if self._token is not None:
            raise RuntimeError("a RunContext can be entered only once at a time")
        self._token = _current_run.set(self)
        from actguard.reporting import emit

        emit("run", "run_start", "started", run_id=self.run_id, user_id=self.user_id)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        from actguard.reporting import emit

        emit(
            "run",
            "run_end",
            "failed" if exc_type is not None else "completed",
            run_id=self.run_id,
            user_id=self.user_id,
            payload={"error": type(exc).__name__} if exc is not None else None,
        )
        if self._token is not None:
            _current_run.reset(self._token)
            self._token = None

    async def __aenter__(self) -> RunContext:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return f"RunContext(run_id={self.run_id!r}, user_id={self.user_id!r})"


def current_run() -> RunContext | None:
    """The active :class:`RunContext` of this thread or task, or None."""
    return _current_run.get()


class Session:
    """A chain-of-custody session: facts proven inside it belong to it alone.

    Use :func:`session` to open one.

    Attributes:
        session_id: the session's id.
        scope: who the session acts for (sorted by key).
        namespace: where its facts live in the store: the JSON text of ``[session_id, [[key, value], ...]]`` with
            the scope sorted by key. JSON of a list of strings is injective, so two different (session_id, scope)
            pairs never share a namespace, whatever characters they contain. Computed once, here.

    Facts belong to the (session_id, scope) pair, not to one ``with`` block: re-entering a session with the same id
    and scope later (in this process or another sharing the store) sees the facts proven earlier until their TTL
    ends, which is what a multi-turn conversation served by several workers needs. A different scope never sees
    them. To start clean, use a fresh session id (e.g. per request) or call :func:`actguard.custody.forget`.
    """

    __slots__ = ("_token", "namespace", "scope", "session_id")

    def __init__(self, session_id: str, scope: Mapping[str, str] | None = None) -> None:
        if not isinstance(session_id, str) or not session_id:
            raise ConfigError(f"session(session_id=...) must be a non-empty str, got {session_id!r}")
        if scope is not None:
            if not isinstance(scope, Mapping):
                raise ConfigError(f"session(scope=...) must be a dict[str, str] or None, got {scope!r}")
            for key, value in scope.items():
                if not isinstance(key, str) or not isinstance(value, str):
                    raise ConfigError(f"session(scope=...) must map str to str; got {key!r}: {value!r}")
        self.session_id = session_id
        self.scope: dict[str, str] = dict(sorted((scope or {}).items()))
        import json  # here: the first session pays for it, not `import actguard`

        self.namespace: str = json.dumps([session_id, list(self.scope.items())])
        self._token: contextvars.Token[Session | None] | None = None

    def __enter__(self) -> Session:
        if self._token is not None:
            raise RuntimeError("a session can be entered only once at a time")
        self._token = _current_session.set(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            _current_session.reset(self._token)
            self._token = None

    async def __aenter__(self) -> Session:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return f"Session(session_id={self.session_id!r}, scope={self.scope!r})"


def session(session_id: str, scope: Mapping[str, str] | None = None) -> Session:
    """Open a chain-of-custody session (sync or async context manager).

    Args:
        session_id: identifies the session (e.g. the request id).
        scope: who the session acts for, e.g. ``{"user_id": "alice"}``; facts never cross scopes.
    """
    return Session(session_id, scope)


def current_session() -> Session | None:
    """The active :class:`Session` of this thread or task, or None."""
    return _current_session.get()


def bind_context(fn: Callable[P, R]) -> Callable[P, R]:
    """Return ``fn`` bound to a copy of the *current* context (run, session, budget), for use in another thread."""
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def bound(*args: P.args, **kwargs: P.kwargs) -> R:
        return ctx.copy().run(fn, *args, **kwargs)

    return bound


def __getattr__(name: str) -> Any:
    # ContextThreadPoolExecutor lives in its own module: concurrent.futures (and the logging it imports) would
    # otherwise be a good part of `import actguard`, for the users of a thread pool only.
    if name == "ContextThreadPoolExecutor":
        from actguard._executor import ContextThreadPoolExecutor

        return ContextThreadPoolExecutor
    raise AttributeError(f"module 'actguard.context' has no attribute {name!r}")


def _new_run_id() -> str:
    import uuid  # here: uuid imports platform, a few ms of `import actguard` for runs that mostly have ids

    return uuid.uuid4().hex
