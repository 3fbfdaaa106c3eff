"""loop_guard: the (max_repeats + 1)-th identical call of a run, and a short cycle of calls, are refused."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from typing import Any

import pytest
from pydantic import BaseModel

import actguard
from actguard import ConfigError, LoopDetected, MemoryStore, MissingRuntimeContextError, RunContext, loop_guard
from actguard.guards.loop_guard import find_cycle
from actguard.testing import FakeClock, capture_events


def test_the_call_after_max_repeats_identical_calls_is_refused(store: MemoryStore) -> None:
    ran: list[str] = []

    @loop_guard(max_repeats=2)
    def search(query: str, limit: int = 10) -> str:
        ran.append(query)
        return query

    with RunContext(run_id="req-1"):
        search("rome")
        search(query="rome", limit=10)  # the same call, by keyword and with the default spelled out
        with pytest.raises(LoopDetected) as info:
            search("rome", 10)
        search("rome", limit=5)  # other arguments: another call
    err = info.value
    assert (err.kind, err.repeats, err.limit, err.run_id, err.tool_name) == ("repeat", 3, 2, "req-1", "search")
    assert ran == ["rome", "rome", "rome"]
    prompt = err.to_prompt()
    assert "repeating yourself" in prompt and "'search'" in prompt and "give your answer" in prompt
    assert isinstance(err, actguard.ToolGuardError)


def test_refused_calls_keep_counting_and_runs_and_tools_are_independent(store: MemoryStore) -> None:
    @loop_guard(max_repeats=1, max_cycle=0)
    def a(x: int) -> int:
        return x

    @loop_guard(max_repeats=1, max_cycle=0)
    def b(x: int) -> int:
        return x

    with RunContext():
        a(1)
        b(1)  # another tool with the same arguments is another call
        for expected in (2, 3):
            with pytest.raises(LoopDetected) as info:
                a(1)
            assert info.value.repeats == expected
    with RunContext():
        a(1)  # a new run starts clean


def test_dict_key_order_and_sequence_types_do_not_make_a_new_call(store: MemoryStore) -> None:
    class Filters(BaseModel):
        tags: list[str]
        year: int

    @loop_guard(max_repeats=1)
    def find(filters: dict[str, Any], model: Filters | None = None) -> None: ...

    with RunContext():
        find({"a": 1, "b": [1, {"x": 1, "y": 2}]}, Filters(tags=["t"], year=1))
        with pytest.raises(LoopDetected):
            find(model=Filters(year=1, tags=["t"]), filters={"b": (1, {"y": 2, "x": 1}), "a": 1})
        find({"a": 1, "b": [1, {"x": 1, "y": 3}]})  # a different nested value
        find({"a": "1"})  # "1" is not 1


def test_var_args_and_keyword_only_parameters_are_normalised(store: MemoryStore) -> None:
    @loop_guard(max_repeats=1)
    def f(a: int, *rest: int, flag: bool = False, **extra: Any) -> None: ...

    @loop_guard(max_repeats=1)
    def g(a: int, /, b: int = 2, *, c: int = 3) -> None: ...

    with RunContext():
        f(1, 2, x={"k": 1, "j": 2})
        with pytest.raises(LoopDetected):
            f(1, 2, flag=False, x={"j": 2, "k": 1})
        g(1)
        with pytest.raises(LoopDetected):
            g(1, b=2, c=3)


def test_a_call_that_does_not_fit_the_signature_raises_pythons_type_error_and_is_not_counted(
    store: MemoryStore,
) -> None:
    @loop_guard(max_repeats=1)
    def f(a: int, b: int = 0) -> None: ...

    with RunContext():
        for bad in ((), (1, 2, 3)):
            with pytest.raises(TypeError):
                f(*bad)
        with pytest.raises(TypeError):
            f(1, a=1)
        with pytest.raises(TypeError):
            f(1, c=1)
        f(1)  # the first counted call


def test_a_short_cycle_is_refused_on_its_second_pass(store: MemoryStore) -> None:
    @loop_guard(max_repeats=5)
    def search(query: str) -> str:
        return query

    @loop_guard(max_repeats=5)
    def read(doc: str) -> str:
        return doc

    with RunContext(run_id="r"):
        search("rome")
        read("d1")
        search("rome")
        with pytest.raises(LoopDetected) as info:
            read("d1")
    err = info.value
    assert (err.kind, err.cycle, err.tool_name) == ("cycle", ("search", "read"), "read")
    assert "going in circles" in err.to_prompt() and "search -> read" in err.to_prompt()

    with RunContext():  # a different argument breaks the cycle
        search("rome")
        read("d1")
        search("rome")
        read("d2")
        search("rome")


def test_cycles_up_to_max_cycle_calls_are_detected_and_zero_turns_it_off(store: MemoryStore) -> None:
    def guarded(name: str, **options: Any) -> Any:
        def fn() -> str:
            return name

        fn.__name__ = fn.__qualname__ = name
        return loop_guard(max_repeats=9, **options)(fn)

    a, b, c = guarded("a"), guarded("b"), guarded("c")
    with RunContext():
        for f in (a, b, c, a, b):
            f()
        with pytest.raises(LoopDetected) as info:
            c()
        assert info.value.cycle == ("a", "b", "c")

    a2, b2, c2 = (guarded(n, max_cycle=2) for n in "abc")
    with RunContext():
        for f in (a2, b2, c2, a2, b2, c2):  # a 3-call cycle is longer than max_cycle=2
            f()

    a0, b0 = (guarded(n, max_cycle=0) for n in "ab")
    with RunContext():
        for f in (a0, b0, a0, b0, a0, b0):
            f()


def test_find_cycle() -> None:
    assert find_cycle(list("ABAB"), 3) == list("AB")
    assert find_cycle(list("XABCABC"), 3) == list("ABC")
    assert find_cycle(list("ABCABC"), 2) is None
    assert find_cycle(list("AAAA"), 3) is None  # one call repeated is max_repeats' business
    assert find_cycle(list("ABBA"), 3) is None
    assert find_cycle(list("AB"), 3) is None


def test_outside_a_run_it_raises_missing_runtime_context(store: MemoryStore) -> None:
    @loop_guard
    def f() -> None: ...

    with pytest.raises(MissingRuntimeContextError, match="loop_guard"):
        f()


async def test_async_parity(store: MemoryStore) -> None:
    ran: list[int] = []

    @loop_guard(max_repeats=2)
    async def fetch(x: int) -> int:
        ran.append(x)
        return x

    async with RunContext():
        assert await fetch(1) == 1
        assert await fetch(x=1) == 1
        with pytest.raises(LoopDetected):
            await fetch(1)
    assert ran == [1, 1]


def test_exact_under_threads(store: MemoryStore) -> None:
    ran: list[int] = []
    barrier = threading.Barrier(8)

    @loop_guard(max_repeats=3)
    def hot(x: int) -> None:
        ran.append(x)

    def worker() -> None:
        barrier.wait()
        for _ in range(4):
            with contextlib.suppress(LoopDetected):
                hot(1)

    with RunContext():
        threads = [threading.Thread(target=actguard.bind_context(worker)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(ran) == 3


async def test_exact_under_tasks(store: MemoryStore) -> None:
    @loop_guard(max_repeats=4)
    async def hot() -> None: ...

    async with RunContext():
        results = await asyncio.gather(*(hot() for _ in range(20)), return_exceptions=True)
    assert sum(r is None for r in results) == 4


def test_the_record_expires_after_ttl(clock: FakeClock, store: MemoryStore) -> None:
    @loop_guard(max_repeats=1, ttl_s=60)
    def f() -> None: ...

    with RunContext():
        f()
        clock.advance(60)
        f()  # the run's record expired: counting starts again


def test_events(store: MemoryStore) -> None:
    @loop_guard(max_repeats=1)
    def f() -> None: ...

    with capture_events() as events, RunContext():
        f()
        with pytest.raises(LoopDetected):
            f()
    got = [(e["name"], e["outcome"]) for e in events.of(category="tool_guard")]
    assert got == [("loop_guard", "allowed"), ("loop_guard", "blocked")]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_repeats": 0}, r"max_repeats"),
        ({"max_repeats": True}, r"max_repeats"),
        ({"max_repeats": "2"}, r"max_repeats"),
        ({"max_cycle": 1}, r"max_cycle.*0 \(off\) or an int in 2..16"),
        ({"max_cycle": 17}, r"max_cycle"),
        ({"ttl_s": 0}, r"ttl_s"),
        ({"store": "redis://"}, r"store"),
    ],
)
def test_bad_arguments_fail_at_decoration(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        loop_guard(**kwargs)


def test_tool_accepts_loop_guard(store: MemoryStore) -> None:
    @actguard.tool(loop_guard=1)
    def a() -> None: ...

    @actguard.tool(loop_guard={"max_repeats": 5, "max_cycle": 2}, max_attempts=10)
    def b(x: int) -> None: ...

    with RunContext():
        a()
        with pytest.raises(LoopDetected):
            a()
        b(1)
        b(2)
        b(1)
        with pytest.raises(LoopDetected, match="cycle"):
            b(2)
    with pytest.raises(ConfigError, match=r"loop_guard.*unknown keys \['repeats'\]"):
        actguard.tool(loop_guard={"repeats": 2})
    with pytest.raises(ConfigError, match=r"max_repeats"):
        actguard.tool(loop_guard=0)


def test_a_refused_repeat_releases_an_idempotency_key_and_uses_an_attempt(store: MemoryStore) -> None:
    @actguard.tool(idempotent={"safe_exceptions": [ValueError]}, max_attempts=3, loop_guard=1)
    def pay(amount: int, *, idempotency_key: str) -> str:
        if amount < 0:
            raise ValueError("negative")
        return f"paid {amount}"

    with RunContext():
        with pytest.raises(ValueError):
            pay(-5, idempotency_key="k1")  # safe: the key is released
        with pytest.raises(LoopDetected):
            pay(-5, idempotency_key="k1")  # the same call again
        assert pay(5, idempotency_key="k1") == "paid 5"  # the refusal released the key too
        with pytest.raises(actguard.MaxAttemptsExceeded):  # the refused repeat was an attempt
            pay(6, idempotency_key="k2")


def test_keeps_name_docstring_and_signature() -> None:
    import inspect

    def original(query: str, n: int = 1) -> str:
        """Search."""
        return query

    guarded = loop_guard(original)
    assert (guarded.__name__, guarded.__doc__) == ("original", "Search.")
    assert inspect.signature(guarded) == inspect.signature(original)


def _wrapped(fn: Any) -> Any:
    """``fn`` behind a pass-through wrapper: loop_guard passes such a call on as spelled, not through a function
    with the tool's own parameters."""
    if asyncio.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def awrapper(*args: Any, **kwargs: Any) -> Any:
            return await fn(*args, **kwargs)

        return awrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize("wrap", [lambda fn: fn, _wrapped], ids=["plain", "wrapped"])
async def test_on_every_backend_sync_and_async(backend: Any, wrap: Any) -> None:
    @loop_guard(max_repeats=2)
    @wrap
    def search(query: str) -> str:
        return query

    @loop_guard(max_repeats=2)
    @wrap
    async def read(doc: str) -> str:
        return doc

    async with RunContext():
        search("q")
        await read("d")
        search(query="q")
        with pytest.raises(LoopDetected, match="cycle"):
            await read(doc="d")
        with pytest.raises(LoopDetected, match="3 times"):
            search("q")
    async with RunContext():
        search("q")
    backend.advance(86_400)


def test_closures_from_one_factory_are_separate_tools_unless_named_alike(store: MemoryStore) -> None:
    """Tool identity as in every guard: two closures never share a record; ``name=`` (what guard_tool passes) is the
    tool's identity and the name in the refusal."""

    def make(name: str | None) -> Any:
        @loop_guard(max_repeats=1, max_cycle=0, name=name)
        def impl(query: str) -> str:
            return query

        return impl

    web, news = make(None), make(None)
    with RunContext():
        web("rome")
        news("rome")  # another tool: its first call
        with pytest.raises(LoopDetected):
            web("rome")

    first, second = make("search"), make("search")
    with RunContext():
        first("rome")
        with pytest.raises(LoopDetected) as info:
            second("rome")  # one tool, named alike: the same call again
    assert info.value.tool_name == "search"


def test_a_bad_name_is_refused_at_decoration() -> None:
    with pytest.raises(ConfigError, match=r"loop_guard\(name=\.\.\.\)"):
        loop_guard(name="")
