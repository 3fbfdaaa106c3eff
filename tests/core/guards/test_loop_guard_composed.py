"""loop_guard over actguard's other guards (``tool(...)``, stacked decorators): a call is bound once, through a
function with the tool's own parameters, and decides exactly as loop_guard on the bare function does."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import pytest

import actguard
from actguard import LoopDetected, MemoryStore, RunContext, loop_guard
from actguard.guards._wrap import forwards_bound

Call = tuple[tuple[Any, ...], dict[str, Any]]


class SpyStore(MemoryStore):
    """A MemoryStore loop_guard treats as shared (its type is not MemoryStore): it records each call's fingerprint."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[str] = []

    def loop_observe(self, key: str, entry: Any, keep: int, ttl: float) -> Any:
        self.entries.append(entry)
        return super().loop_observe(key, entry, keep, ttl)


def search(query: str, limit: int = 10, *, page: int = 1) -> str:
    return f"{query}:{limit}:{page}"


async def asearch(query: str, limit: int = 10, *, page: int = 1) -> str:
    return f"{query}:{limit}:{page}"


def composed(fn: Callable[..., Any], **options: Any) -> Any:
    """``fn`` under tool() with loop_guard and a guard inside it, as a model-facing tool would be."""
    return actguard.tool(loop_guard={"max_repeats": 9, **options}, circuit_breaker={"name": "search_api"})(fn)


def stacked(fn: Callable[..., Any], **options: Any) -> Any:
    """``fn`` under loop_guard over stacked guard decorators (one reading an argument: the rate limit's scope)."""
    inner = actguard.rate_limit(max_calls=99, period=60, scope="query")(actguard.timeout(5)(fn))
    return loop_guard(**{"max_repeats": 9, **options})(actguard.max_attempts(calls=99)(inner))


SPELLINGS: list[Call] = [
    (("rome",), {}),
    ((), {"query": "rome"}),
    (("rome", 10), {"page": 1}),
    (("rome",), {"limit": 3}),
    (("paris", 3), {"page": 2}),
]


def takes_own_parameters(fn: Callable[..., Any], names: tuple[str, ...] = ("query", "limit", "page")) -> bool:
    """Whether ``fn`` is a function with the tool's parameters (the fast path), not ``*args, **kwargs``."""
    code = fn.__code__  # type: ignore[attr-defined]
    flags = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS
    return not code.co_flags & flags and code.co_varnames[: len(names)] == names


@pytest.mark.parametrize("compose", [composed, stacked])
@pytest.mark.parametrize("fn", [search, asearch])
def test_over_actguard_guards_a_call_is_bound_once(compose: Any, fn: Any) -> None:
    guarded = compose(fn)
    assert takes_own_parameters(guarded)
    assert inspect.iscoroutinefunction(guarded) is inspect.iscoroutinefunction(fn)
    assert inspect.signature(guarded) == inspect.signature(fn)


async def call_all(guarded: Any, calls: list[Call]) -> list[Any]:
    results = []
    async with RunContext(run_id="r1"):
        for args, kwargs in calls:
            result = guarded(*args, **kwargs)
            results.append(await result if inspect.isawaitable(result) else result)
    return results


@pytest.mark.parametrize("compose", [composed, stacked])
@pytest.mark.parametrize("fn", [search, asearch])
async def test_the_fingerprints_are_those_of_loop_guard_on_the_bare_function(compose: Any, fn: Any) -> None:
    bare, through = SpyStore(), SpyStore()
    expected = await call_all(loop_guard(max_repeats=9, store=bare)(fn), SPELLINGS)
    assert await call_all(compose(fn, store=through), SPELLINGS) == expected
    assert through.entries == bare.entries
    assert len(set(bare.entries)) == 3  # the first three spellings are one call


@pytest.mark.parametrize("compose", [composed, stacked])
@pytest.mark.parametrize("fn", [search, asearch])
async def test_spellings_of_one_call_are_one_call_in_process(compose: Any, fn: Any, store: MemoryStore) -> None:
    guarded = compose(fn, max_repeats=2)
    assert await call_all(guarded, SPELLINGS[:2]) == ["rome:10:1", "rome:10:1"]
    with pytest.raises(LoopDetected) as info:
        await call_all(guarded, SPELLINGS[:3])
    assert (info.value.kind, info.value.repeats, info.value.tool_name) == ("repeat", 3, fn.__name__)


BAD_CALLS: list[Call] = [
    ((), {}),
    (("rome",), {"lim": 3}),
    (("rome",), {"query": "x"}),
    (("rome", 1, 2), {}),
    (("rome",), {"page": 2, "extra": 1}),
]


@pytest.mark.parametrize("compose", [composed, stacked])
@pytest.mark.parametrize("fn", [search, asearch])
async def test_a_call_that_does_not_fit_raises_the_functions_own_type_error(
    compose: Any, fn: Any, store: MemoryStore
) -> None:
    spy = SpyStore()
    guarded = compose(fn, store=spy)
    async with RunContext():
        for args, kwargs in BAD_CALLS:
            with pytest.raises(TypeError) as direct:
                fn(*args, **kwargs)
            with pytest.raises(TypeError) as raised:
                guarded(*args, **kwargs)  # at the call, as the function's own (a coroutine function's too)
            assert str(raised.value) == str(direct.value)
    assert spy.entries == []  # not counted


def test_the_functions_default_objects_reach_it() -> None:
    marker = object()
    seen: list[Any] = []

    def tool(a: int, opt: Any = marker) -> None:
        seen.append(opt)

    guarded = composed(tool)
    assert takes_own_parameters(guarded, ("a", "opt"))
    with RunContext():
        guarded(1)
        guarded(a=1)
    assert seen == [marker, marker]


def spelled_wrapper(fn: Any, seen: list[Call]) -> Any:
    """A wrapper the user wrote: it sees the call as spelled, and copies ``fn``'s attributes (functools.wraps)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        seen.append((args, kwargs))
        return fn(*args, **kwargs)

    return wrapper


def test_a_wrapper_the_user_wrote_anywhere_in_the_chain_gets_the_call_as_spelled(store: MemoryStore) -> None:
    outside: list[Call] = []
    inside: list[Call] = []
    around_guard = spelled_wrapper(actguard.max_attempts(calls=99)(search), outside)  # copies the guard's __dict__
    under_guard = actguard.max_attempts(calls=99)(spelled_wrapper(search, inside))
    calls = SPELLINGS[:3]
    for fn in (around_guard, under_guard):
        guarded = loop_guard(max_repeats=3)(fn)
        assert not takes_own_parameters(guarded)
        with RunContext():
            for args, kwargs in calls:
                guarded(*args, **kwargs)
            with pytest.raises(LoopDetected):  # still one call however it is spelled
                guarded("rome")
    assert outside == inside == calls


def test_a_guard_whose_signature_was_changed_by_hand_is_called_as_spelled() -> None:
    guard = actguard.max_attempts(calls=99)(search)
    assert forwards_bound(guard, inspect.signature(guard))
    other_default = inspect.signature(lambda query, limit=11, *, page=1: None)
    guard.__signature__ = other_default  # type: ignore[attr-defined]
    assert not forwards_bound(guard, inspect.signature(guard))
    assert not takes_own_parameters(loop_guard(guard))
    # a guard planned on a signature set by hand, under a guard whose signature is the function's own again
    inner = actguard.timeout(5)(search)
    inner.__signature__ = other_default  # type: ignore[attr-defined]
    outer = actguard.max_attempts(calls=99)(inner)
    outer.__signature__ = inspect.signature(search)  # type: ignore[attr-defined]
    assert not forwards_bound(outer, inspect.signature(outer))
    # a signature changed by hand after the guard was planned: the guard still decides on the function's own
    planned = actguard.timeout(5)(search)
    both = actguard.max_attempts(calls=99)(planned)
    planned.__signature__ = other_default  # type: ignore[attr-defined]
    assert forwards_bound(both, inspect.signature(search))
    assert not forwards_bound(functools.partial(search), inspect.signature(search))
