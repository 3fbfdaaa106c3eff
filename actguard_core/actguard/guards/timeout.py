"""``timeout``: bound a tool call's wall-clock time."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, overload

from actguard.exceptions import ToolTimeoutError
from actguard.guards._wrap import (
    ToolInfo,
    check_name,
    check_positive,
    finish,
    missing_arguments,
    not_a_function,
    refuse_generators,
)
from actguard.reporting import emit

__all__ = ["timeout"]

F = TypeVar("F", bound=Callable[..., Any])


@overload
def timeout(seconds: float, *, name: str | None = None) -> Callable[[F], F]: ...


@overload
def timeout(seconds: Callable[..., Any], /) -> NoReturn: ...


def timeout(seconds: Any = None, *, name: str | None = None) -> Callable[[F], F]:
    """Raise :class:`actguard.ToolTimeoutError` when the tool runs longer than ``seconds``.

    * Coroutine functions are cancelled when the time is up (the cancellation is turned into ToolTimeoutError;
      a cancellation from outside stays a cancellation).
    * Plain functions run in a new daemon thread per call, in a copy of the caller's context (run, session,
      budget), while the caller waits at most ``seconds``. Python cannot stop a thread: **a timed-out call keeps
      running in its thread until it returns by itself**; its result or exception is discarded. Each call gets its
      own thread (no shared pool), so hung calls can never starve the timeouts of other calls; the cost is a
      thread start per call (tens of microseconds).

    A ``TimeoutError`` raised by the tool itself propagates unchanged: it is not reported as this guard's timeout.
    Inside :func:`actguard.tool`, the timeout is innermost, so a circuit breaker counts a ToolTimeoutError as a
    ``timeout`` failure.

    Args:
        seconds: the limit, > 0.
        name: the tool's name in errors and events (the name a model calls it by); ``None``: ``__name__``.

    Raises:
        ConfigError: at decoration, for ``seconds <= 0`` or a generator function.
        ToolTimeoutError: at call time, with ``tool_name`` and ``timeout_s``.

    Example::

        @timeout(1.5)
        def call_slow_dependency() -> str: ...
    """
    if callable(seconds):
        raise not_a_function(seconds, "timeout", "@timeout(1.5)")
    if seconds is None:
        raise missing_arguments("timeout(seconds=...)", "@timeout(1.5)")
    limit = check_positive(seconds, "timeout(seconds=...)")
    check_name(name, "timeout(name=...)")

    def decorate(fn: F) -> F:
        refuse_generators(fn, "timeout")
        info = ToolInfo.of(fn, "timeout", name)
        return _async_timeout(info, limit) if info.is_async else _thread_timeout(info, limit)  # type: ignore[no-any-return]

    return decorate


def _timed_out(tool: str, limit: float) -> ToolTimeoutError:
    emit("tool_guard", "timeout", "intervened", tool=tool, payload={"timeout_s": limit})
    return ToolTimeoutError(tool_name=tool, timeout_s=limit)


def _async_timeout(info: ToolInfo, limit: float) -> Any:
    import asyncio  # here, not at the top: only coroutine tools need it, and it is most of `import actguard`

    fn, tool = info.fn, info.name

    async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - a coroutine function always runs in a task under asyncio
            raise RuntimeError("timeout: the guarded coroutine must run in an asyncio task")
        expired = handled = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        emit("tool_guard", "timeout", "allowed", tool=tool, payload={"timeout_s": limit})
        handle = asyncio.get_running_loop().call_later(limit, expire)
        # 3.11+: give back the cancellation we requested, so the task's cancel count stays balanced.
        uncancel = getattr(task, "uncancel", None)
        try:
            return await fn(*args, **kwargs)
        except asyncio.CancelledError:
            if not expired:
                raise
            handled = True
            if uncancel is not None and uncancel() > 0:
                raise  # someone else cancelled the task too: stay cancelled
            raise _timed_out(tool, limit) from None
        finally:
            handle.cancel()
            if expired and not handled and uncancel is not None:
                uncancel()  # the tool swallowed our cancellation and returned or raised by itself

    return finish(async_wrapper, info)


class _Outcome:
    """What the worker thread produced, handed over under ``done``."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


def _thread_timeout(info: ToolInfo, limit: float) -> Any:
    fn, tool = info.fn, info.name

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        outcome = _Outcome()
        ctx = contextvars.copy_context()

        def work() -> None:
            try:
                outcome.value = ctx.run(fn, *args, **kwargs)
            except BaseException as exc:  # handed to the caller, who re-raises it
                outcome.error = exc
            finally:
                outcome.done.set()

        emit("tool_guard", "timeout", "allowed", tool=tool, payload={"timeout_s": limit})
        threading.Thread(target=work, name=f"actguard-timeout:{tool}", daemon=True).start()
        if not outcome.done.wait(limit):
            raise _timed_out(tool, limit)
        if outcome.error is not None:
            error, outcome.error = outcome.error, None  # no reference cycle through the traceback
            raise error
        return outcome.value

    return finish(wrapper, info)
