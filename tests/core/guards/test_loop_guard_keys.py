"""loop_guard's in-process call keys (the fast path) decide exactly as the fingerprint text a shared store keeps."""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
from typing import Any

import pytest

from actguard import LoopDetected, MemoryStore, RunContext, loop_guard, max_attempts
from actguard.guards._fingerprint import ToolCalls, tool_name_of

# Values a model passes most (the fast path) next to the ones that differ from them only by type or spelling.
VALUES: list[Any] = [
    1,
    True,
    "1",
    1.0,
    0,
    False,
    0.0,
    -0.0,
    float("nan"),
    None,
    "",
    "None",
    "x" * 64,
    "x" * 65,
    "y" * 200,
    10**30,
    [1],
    (1,),
    {"a": 1},
    "é\ud800",
]


def both(fn: Any) -> tuple[Any, Any]:
    """``(fingerprint, call_key)`` of ``fn``'s calls: the text a shared store keeps, and the in-process key."""
    calls = ToolCalls(inspect.signature(fn), fn.__name__, f"tests.{fn.__qualname__}")

    def fingerprint(*args: Any, **kwargs: Any) -> str:
        return calls.text_of(calls.call_key(*args, **kwargs))

    return fingerprint, calls.call_key


def test_keys_are_equal_exactly_when_fingerprints_are() -> None:
    def tool(a: Any, b: Any = None, *, c: Any = False) -> None: ...

    text, key = both(tool)
    calls = [(x, y) for x, y in itertools.product(VALUES, VALUES[:12])]
    for (a1, c1), (a2, c2) in itertools.combinations(calls, 2):
        same_text = text(a1, c=c1) == text(a2, c=c2)
        assert (key(a1, c=c1) == key(a2, c=c2)) == same_text, (a1, c1, a2, c2)
    for a, c in calls:  # and every call equals itself (nan too: it is compared as text)
        assert key(a, c=c) == key(a, c=c)


def test_the_fast_path_takes_plain_short_values_and_nothing_else() -> None:
    def tool(a: Any, b: Any = 10) -> None: ...

    _, key = both(tool)
    for plain in ("rome", 7, None, True, "x" * 64):
        assert isinstance(key(plain), tuple)
    for other in (1.5, "x" * 65, [1], {"a": 1}, MemoryStore()):
        assert isinstance(key(other), str) and len(key(other)) < 100  # a bounded text, never the long value
    assert tool_name_of(key("rome")) == tool_name_of(key(1.5)) == "tool"


def test_keyword_positional_and_default_spellings_are_one_key() -> None:
    def tool(a: int, /, b: str = "x", flag: bool = False, *, c: None = None) -> None: ...

    text, key = both(tool)
    spellings = [
        lambda f: f(1),
        lambda f: f(1, "x"),
        lambda f: f(1, b="x"),
        lambda f: f(1, flag=False, b="x"),
        lambda f: f(1, "x", False, c=None),
    ]
    assert len({call(key) for call in spellings}) == 1
    assert len({call(text) for call in spellings}) == 1
    assert key(1, flag=True) != key(1) and key(1, flag=1) != key(1, flag=True)  # type: ignore[arg-type]


def test_a_call_that_does_not_fit_raises_pythons_type_error_on_both_paths() -> None:
    def tool(a: int, /, b: int = 0, *, c: int = 0) -> None: ...

    for path in both(tool):
        for args, kwargs in [((), {}), ((1, 2, 3), {}), ((1,), {"a": 1}), ((1,), {"d": 1}), ((1,), {"b": 1, "x": 2})]:
            with pytest.raises(TypeError):
                path(*args, **kwargs)


def test_the_type_error_is_pythons_own_for_the_function(store: MemoryStore) -> None:
    def search(query: str, limit: int = 10, *, page: int = 1) -> None: ...

    guarded = [loop_guard(search), loop_guard(name="web_search")(search), loop_guard(max_attempts(calls=99)(search))]
    bad_calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((), {}),
        (("rome",), {"lim": 3}),
        (("rome",), {"query": "x"}),
        (("rome", 1, 2), {}),
        (("rome",), {"page": 2, "extra": 1}),
    ]
    with RunContext():
        for args, kwargs in bad_calls:
            with pytest.raises(TypeError) as direct:
                search(*args, **kwargs)
            assert "search()" in str(direct.value)  # e.g. "...<locals>.search() missing 1 required positional..."
            for tool in guarded:  # a plain function (called through its own parameters) or a wrapper
                with pytest.raises(TypeError) as raised:
                    tool(*args, **kwargs)
                assert str(raised.value) == str(direct.value)


def test_parameters_named_like_builtins_bind(store: MemoryStore) -> None:
    @loop_guard(max_repeats=1)
    def lookup(type: str, len: int = 3, str: str = "s", int: bool = False, bool: Any = None) -> tuple[Any, ...]:
        return (type, len, str, int, bool)

    with RunContext():
        assert lookup("a", int=True) == ("a", 3, "s", True, None)
        assert lookup("a", 3, bool=1.5) == ("a", 3, "s", False, 1.5)
        with pytest.raises(LoopDetected):
            lookup(type="a", len=3, str="s", int=True)


def test_a_plain_function_gets_each_argument_as_bound() -> None:
    marker = object()

    def tool(a: int, /, b: Any = marker, *c: Any, d: int, e: str = "e", **f: Any) -> Any:
        return (a, b, c, d, e, f)

    def plain(a: int, /, b: Any = marker, *, d: int, e: str = "e") -> Any:
        return (a, b, d, e)

    async def aplain(a: int, /, b: Any = marker, *, d: int, e: str = "e") -> Any:
        return (a, b, d, e)

    store = MemoryStore()
    with RunContext():
        assert loop_guard(store=store)(tool)(1, 2, 3, d=4, g=5) == (1, 2, (3,), 4, "e", {"g": 5})
        assert loop_guard(store=store)(plain)(1, d=4) == (1, marker, 4, "e")
        assert loop_guard(store=store)(plain)(1, b=2, e="x", d=4) == (1, 2, 4, "x")
        assert asyncio.run(loop_guard(store=store)(aplain)(1, 2, d=4)) == (1, 2, 4, "e")


def test_a_function_whose_signature_is_not_its_own_gets_the_call_as_spelled(store: MemoryStore) -> None:
    seen: list[Any] = []

    def spelled(*args: Any, **kwargs: Any) -> None:
        seen.append((args, kwargs))

    spelled.__signature__ = inspect.signature(lambda query, limit=10: None)  # type: ignore[attr-defined]

    @functools.wraps(spelled)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        seen.append((args, kwargs))

    for fn in (spelled, wrapper):
        with RunContext():
            guarded = loop_guard(max_repeats=3, max_cycle=0)(fn)
            guarded("q")
            guarded(query="q", limit=3)
            guarded("q", limit=10)
            guarded("q", 10)
            with pytest.raises(LoopDetected):  # still one call however it is spelled
                guarded(query="q")
    assert seen == [(("q",), {}), ((), {"query": "q", "limit": 3}), (("q",), {"limit": 10}), (("q", 10), {})] * 2


def test_a_parameter_named_like_the_generated_code_still_binds(store: MemoryStore) -> None:
    @loop_guard(max_repeats=1)
    def tool(_ag_values: int, _ag_type: str = "t") -> None: ...

    with RunContext():
        tool(1)
        with pytest.raises(LoopDetected):
            tool(_ag_values=1, _ag_type="t")


def test_defaults_are_the_functions_own_objects(store: MemoryStore) -> None:
    marker = object()
    seen: list[Any] = []

    @loop_guard(max_repeats=5)
    def tool(a: int, opt: Any = marker) -> None:
        seen.append(opt)

    with RunContext():
        tool(1)
        tool(1, marker)
    assert seen == [marker, marker]


# What a run of calls decides, in order, on every backend: the same refusals, whichever key the store holds.
CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((1,), {}),
    ((True,), {}),
    (("1",), {}),
    ((1.0,), {}),
    ((1,), {"flag": True}),
    ((1,), {"flag": 1}),
    (("y" * 200,), {}),
    ((-0.0,), {}),
    ((0.0,), {}),
    ((None,), {"flag": False}),
    (({"k": 1, "j": [1, 2]},), {}),
    ((1,), {}),
    ((True,), {}),
    (("1",), {}),
    ((1.0,), {}),
    ((1,), {"flag": True}),
    ((1,), {"flag": 1}),
    (("y" * 200,), {}),
    ((-0.0,), {}),
    ((0.0,), {}),
    ((None,), {}),
    (({"j": (1, 2), "k": 1},), {}),
    ((1,), {"flag": False}),
]


async def test_every_backend_refuses_the_same_calls(backend: Any) -> None:
    @loop_guard(max_repeats=1, max_cycle=0)
    def tool(a: Any, flag: Any = False) -> None: ...

    outcomes = []
    async with RunContext():
        for args, kwargs in CALLS:
            try:
                tool(*args, **kwargs)
                outcomes.append("ran")
            except LoopDetected:
                outcomes.append("refused")
    first, second = outcomes[:11], outcomes[11:]
    assert first == ["ran"] * 11  # 1, True, "1", 1.0, 1 vs True as flag, -0.0 vs 0.0: all different calls
    assert second == ["refused"] * 12  # each again (None == None with the default spelled out; dict key order)


def test_a_run_with_more_calls_than_max_keys_forgets_the_oldest_and_stays_fast() -> None:
    store = MemoryStore(max_keys=16)
    for i in range(10_000):  # evicting in batches: one at a time from a dict's front is O(n) each
        assert store.loop_observe("run", f"call {i}", 4, 60).seen == 1
    assert store.loop_observe("run", "call 9999", 4, 60).seen == 2  # the newest calls are remembered
    assert store.loop_observe("run", "call 0", 4, 60).seen == 1  # the oldest were forgotten
    assert len(store._loops["run"][1]) <= 16
