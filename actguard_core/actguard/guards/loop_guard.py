"""``loop_guard``: refuse a call an agent already made in this run (a loop), before it runs again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, NoReturn, TypeVar, overload

from actguard import reporting as _reporting
from actguard import stores as _stores
from actguard.context import _current_run
from actguard.exceptions import ConfigError, LoopDetected, MissingRuntimeContextError
from actguard.guards._fingerprint import ToolCalls, tool_name_of
from actguard.guards._keys import encode
from actguard.guards._wrap import ToolInfo, check_int, check_name, check_positive, check_store, finish
from actguard.reporting import emit
from actguard.stores import MemoryStore, Store, get_default_store
from actguard.stores._base import FIRST_CALL, LoopStep

__all__ = ["find_cycle", "loop_guard"]

F = TypeVar("F", bound=Callable[..., Any])
_DAY = 86_400.0


@overload
def loop_guard(fn: F, /) -> F: ...


@overload
def loop_guard(
    max_repeats: int = 2,
    *,
    max_cycle: int = 3,
    ttl_s: float = _DAY,
    store: Store | None = None,
    name: str | None = None,
) -> Callable[[F], F]: ...


def loop_guard(
    max_repeats: Any = 2,
    *,
    max_cycle: int = 3,
    ttl_s: float = _DAY,
    store: Store | None = None,
    name: str | None = None,
) -> Any:
    """Refuse a tool call that repeats, within one run, a call the agent already made.

    Two patterns are refused with :class:`actguard.LoopDetected`, before the tool runs:

    * **Repeat**: the ``(max_repeats + 1)``-th call of this tool with the same arguments in the run. Arguments are
      compared by value after binding them to the signature: ``f(1, b=2)``, ``f(a=1, b=2)`` and ``f(1)`` (when
      ``b`` defaults to 2) are one call, and dict arguments are equal whatever their key order.
    * **Cycle**: the call that completes a second pass, back to back, of the same sequence of 2 to ``max_cycle``
      calls with the same arguments (``A, B, A, B``: the fourth call is refused). Every loop-guarded tool of the run
      takes part, so ``search -> read -> search -> read`` is caught across two tools. ``max_cycle=0`` turns
      cycle detection off (for tools that legitimately alternate, such as polling).

    Refused calls count too, so a model that keeps insisting keeps being refused. State is per run
    (:class:`actguard.RunContext`) and lives in the store, so runs never share it and it expires with ``ttl_s``.

    Works bare (``@loop_guard``) or with arguments.

    Args:
        max_repeats: identical calls allowed per run, >= 1 (default 2: the third identical call is refused).
        max_cycle: longest cycle detected (calls per pass), 2..16; 0 turns cycle detection off. Default 3.
        ttl_s: seconds a run's record is kept after its first call (so records of finished runs are evicted).
        store: where the record lives; ``None`` means the default store at call time.
        name: the tool's name as the model sees it: the name in calls compared, errors and events (the adapters'
            ``guard_tool`` passes it). ``None``: the function's ``__name__``.

    Raises:
        ConfigError: at decoration, for ``max_repeats < 1``, ``max_cycle`` not 0 or in 2..16, ``ttl_s <= 0``.
        MissingRuntimeContextError: at call time outside any RunContext.
        LoopDetected: at call time, with ``kind`` (``"repeat"`` / ``"cycle"``), ``repeats``, ``limit``, ``cycle``.
        StoreUnavailable: at call time, when a shared store cannot be reached: always fails closed.

    Example::

        @actguard.loop_guard(max_repeats=2)
        def search(query: str) -> str: ...

        with actguard.RunContext():
            search("rome")
            search(query="rome")
            search("rome")  # raises LoopDetected: the third identical call
    """
    if callable(max_repeats):
        return loop_guard()(max_repeats)
    limit = check_int(max_repeats, "loop_guard(max_repeats=...)")
    if isinstance(max_cycle, bool) or not isinstance(max_cycle, int) or not (max_cycle == 0 or 2 <= max_cycle <= 16):
        raise ConfigError(f"loop_guard(max_cycle=...) must be 0 (off) or an int in 2..16, got {max_cycle!r}")
    ttl = check_positive(ttl_s, "loop_guard(ttl_s=...)")
    check_store(store, "loop_guard(store=...)")
    check_name(name, "loop_guard(name=...)")

    def decorate(fn: F) -> F:
        return _wrap(ToolInfo.of(fn, "loop_guard", name), limit, max_cycle, ttl, store)  # type: ignore[no-any-return]

    return decorate


def find_cycle(recent: Sequence[Hashable], max_cycle: int) -> Sequence[Hashable] | None:
    """The pass of a cycle that ``recent`` (oldest first, ending with the current call) just completed twice in a
    row, for cycles of 2..``max_cycle`` calls that are not all the same call; ``None`` when there is none."""
    size = len(recent)
    for length in range(2, max_cycle + 1):
        if size < 2 * length:
            break
        last = recent[size - length :]
        if recent[size - 2 * length : size - length] == last and any(e != last[0] for e in last):
            return last
    return None


def _wrap(info: ToolInfo, limit: int, max_cycle: int, ttl: float, own_store: Store | None) -> Any:
    fn, tool, is_async = info.fn, info.name, info.is_async
    calls = ToolCalls(info.signature, tool, info.ident, fn)
    # The in-process store takes a call's key; a shared store keeps the call's fingerprint, its text (equal exactly
    # when the keys are), so the common call builds no text.
    call_key, text_of = calls.call_key, calls.text_of
    get_run = _current_run.get
    prefix = encode("loop_guard")
    keep = 2 * max_cycle if max_cycle else 1

    def no_run() -> NoReturn:
        emit("tool_guard", "loop_guard", "blocked", tool=tool, payload={"reason": "no_run"})
        raise MissingRuntimeContextError("loop_guard", tool)

    def judge(step: LoopStep, run_id: str) -> None:
        """Refuse a repeat or the close of a cycle, else report the call allowed."""
        count, recent = step
        if count > limit:
            emit("tool_guard", "loop_guard", "blocked", tool=tool, payload={"kind": "repeat", "repeats": count})
            raise LoopDetected(tool_name=tool, kind="repeat", limit=limit, repeats=count, run_id=run_id)
        if max_cycle and count > 1:  # a first call can close no cycle
            cycle = find_cycle(recent, max_cycle)
            if cycle is not None:
                names = tuple(tool_name_of(entry) for entry in cycle)
                emit("tool_guard", "loop_guard", "blocked", tool=tool, payload={"kind": "cycle", "cycle": list(names)})
                raise LoopDetected(tool_name=tool, kind="cycle", limit=limit, cycle=names, run_id=run_id)
        emit("tool_guard", "loop_guard", "allowed", tool=tool)

    async def judge_shared(store: Store, key: str, entry: Hashable, run_id: str) -> None:
        """An async tool's call on a shared store: recorded with its fingerprint, then judged."""
        judge(await store.aloop_observe(key, text_of(entry), keep, ttl), run_id)

    # One contextvar read, one store operation; the key of the last run seen is reused.
    memo: list[tuple[str, str]] = [("", "")]

    def key_for(run_id: str) -> str:
        key = f"{prefix}{len(run_id)}:{run_id}"
        memo[0] = (run_id, key)
        return key

    def guard(entry: Hashable) -> Awaitable[None] | None:
        """Record the call with key ``entry`` in the run, refusing it if it loops; for an async tool on a shared
        store, the awaitable doing so."""
        run = get_run()
        if run is None:
            no_run()
        run_id = run.run_id
        last = memo[0]
        key = last[1] if last[0] is run_id else key_for(run_id)
        store = own_store or _stores._default_store or get_default_store()
        if type(store) is MemoryStore:  # in-process: nothing to await
            step = store.loop_observe(key, entry, keep, ttl)
        elif is_async:
            return judge_shared(store, key, entry, run_id)
        else:
            step = store.loop_observe(key, text_of(entry), keep, ttl)
        # A first call with nobody listening (emit's own first test) needs no judging.
        if step is not FIRST_CALL or _reporting._sinks:
            judge(step, run_id)
        return None

    # A plain function, or actguard guards around one (tool(...), stacked guards), is called through a function with
    # its own parameters (no *args/**kwargs to pass on twice); a wrapper the user wrote gets the call as spelled.
    wrapper = calls.caller(fn, guard, is_async=is_async)
    if wrapper is not None:
        return finish(wrapper, info)

    if is_async:

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            pending = guard(call_key(*args, **kwargs))
            if pending is not None:
                await pending
            return await fn(*args, **kwargs)

        return finish(async_wrapper, info)

    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        guard(call_key(*args, **kwargs))
        return fn(*args, **kwargs)

    return finish(sync_wrapper, info)
