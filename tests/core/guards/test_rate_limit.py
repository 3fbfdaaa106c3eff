from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import actguard
from actguard import ConfigError, MemoryStore, RateLimitExceeded, rate_limit
from actguard.testing import FakeClock, capture_events


def test_admits_max_calls_per_sliding_window(store: MemoryStore, clock: FakeClock) -> None:
    ran: list[int] = []

    @rate_limit(max_calls=2, period=60)
    def ping(i: int) -> int:
        ran.append(i)
        return i

    assert ping(1) == 1
    clock.advance(30)
    assert ping(2) == 2
    with pytest.raises(RateLimitExceeded) as info:
        ping(3)
    err = info.value
    assert (err.limit, err.period, err.scope_value, err.tool_name) == (2, 60.0, None, "ping")
    assert err.retry_after == pytest.approx(30.0)  # the first call leaves the window 30 s from now
    assert ran == [1, 2]  # a refused call does not run
    clock.advance(30)  # the first call has left the window: one slot, not two
    assert ping(4) == 4
    with pytest.raises(RateLimitExceeded) as info:
        ping(5)
    assert info.value.retry_after == pytest.approx(30.0)


def test_refused_calls_do_not_extend_the_window(store: MemoryStore, clock: FakeClock) -> None:
    @rate_limit(max_calls=1, period=10)
    def ping() -> None: ...

    ping()
    for _ in range(5):
        clock.advance(1)
        with pytest.raises(RateLimitExceeded):
            ping()
    clock.advance(5)
    ping()


def test_scope_found_by_position_keyword_or_default(store: MemoryStore) -> None:
    @rate_limit(max_calls=3, period=60, scope="region")
    def send(user_id: str, region: str = "eu") -> str:
        return user_id

    send("a")  # default
    send("b", "eu")  # position
    send("c", region="eu")  # keyword
    with pytest.raises(RateLimitExceeded) as info:
        send(user_id="d")
    assert info.value.scope_value == "eu"
    assert send("e", region="us") == "e"  # another scope value, another window


def test_each_scope_value_has_its_own_window_and_types_differ(store: MemoryStore) -> None:
    @rate_limit(max_calls=1, period=60, scope="key")
    def f(key: Any) -> None: ...

    f("1")
    f(1)  # not the same scope as "1"
    f("s:1")  # a string that looks like an encoded key part
    f(("a", "b"))
    with pytest.raises(RateLimitExceeded) as info:
        f(1)
    assert info.value.scope_value == 1


def test_two_functions_with_one_name_never_share_a_bucket(store: MemoryStore) -> None:
    def make(module: str) -> Any:
        namespace: dict[str, Any] = {"__name__": module}
        exec("def search(q):\n    return q\n", namespace)
        return rate_limit(max_calls=1, period=60)(namespace["search"])

    class A:
        @staticmethod
        @rate_limit(max_calls=1, period=60)
        def search(q: str) -> str:
            return q

    class B:
        @staticmethod
        @rate_limit(max_calls=1, period=60)
        def search(q: str) -> str:
            return q

    one, two = make("pkg.one"), make("pkg.two")
    assert [one("x"), two("x"), A.search("x"), B.search("x")] == ["x"] * 4
    with pytest.raises(RateLimitExceeded):
        one("x")


def test_missing_scope_argument_is_a_type_error_and_consumes_nothing(store: MemoryStore) -> None:
    @rate_limit(max_calls=1, period=60, scope="user_id")
    def f(user_id: str) -> str:
        return user_id

    with pytest.raises(TypeError):
        f()  # type: ignore[call-arg]
    assert f("a") == "a"


def test_default_store_is_looked_up_at_call_time(store: MemoryStore) -> None:
    @rate_limit(max_calls=1, period=60)
    def f() -> None: ...

    f()
    with pytest.raises(RateLimitExceeded):
        f()
    other = MemoryStore(clock=FakeClock())
    actguard.set_default_store(other)  # configured after decoration
    f()
    actguard.set_default_store(store)
    with pytest.raises(RateLimitExceeded):
        f()


def test_own_store_argument(store: MemoryStore) -> None:
    own = MemoryStore(clock=FakeClock())

    @rate_limit(max_calls=1, period=60, store=own)
    def f() -> None: ...

    f()
    assert own.hit_window  # state went to `own`: the default store's window for f is still empty
    actguard.set_default_store(MemoryStore())
    with pytest.raises(RateLimitExceeded):
        f()


async def test_async_functions(store: MemoryStore, clock: FakeClock) -> None:
    @rate_limit(max_calls=1, period=5, scope="user_id")
    async def fetch(user_id: str) -> str:
        await asyncio.sleep(0)
        return user_id

    assert await fetch("a") == "a"
    with pytest.raises(RateLimitExceeded):
        await fetch("a")
    clock.advance(5)
    assert await fetch("a") == "a"


def test_exact_under_16_threads(store: MemoryStore) -> None:
    admitted: list[int] = []
    refused: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    @rate_limit(max_calls=37, period=60)
    def f() -> None: ...

    def worker() -> None:
        barrier.wait()
        for _ in range(10):
            try:
                f()
            except RateLimitExceeded:
                with lock:
                    refused.append(1)
            else:
                with lock:
                    admitted.append(1)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(admitted), len(refused)) == (37, 160 - 37)


async def test_exact_under_many_tasks(store: MemoryStore) -> None:
    @rate_limit(max_calls=25, period=60, scope="user_id")
    async def f(user_id: str) -> str:
        await asyncio.sleep(0)
        return user_id

    results = await asyncio.gather(*(f(u) for u in ["a", "b"] * 100), return_exceptions=True)
    ok = [r for r in results if isinstance(r, str)]
    assert sorted(set(ok)) == ["a", "b"] and ok.count("a") == 25 and ok.count("b") == 25
    assert all(isinstance(r, RateLimitExceeded) for r in results if not isinstance(r, str))


def test_each_decision_is_reported(store: MemoryStore) -> None:
    @rate_limit(max_calls=1, period=60, scope="user_id")
    def send(user_id: str) -> None: ...

    with capture_events() as events, actguard.RunContext(run_id="r1", user_id="alice"):
        send("alice")
        with pytest.raises(RateLimitExceeded):
            send("alice")
    got = events.of(category="tool_guard", name="rate_limit")
    assert [e["outcome"] for e in got] == ["allowed", "blocked"]
    assert {e["tool"] for e in got} == {"send"} and {e["run_id"] for e in got} == {"r1"}
    assert got[1]["payload"]["scope"] == "alice" and got[1]["payload"]["limit"] == 1


def test_refusal_text_for_a_model(store: MemoryStore) -> None:
    @rate_limit(max_calls=1, period=60)
    def lookup() -> None: ...

    lookup()
    with pytest.raises(RateLimitExceeded) as info:
        lookup()
    assert "rate limit" in str(info.value) and "60" in info.value.to_prompt()


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"max_calls": 0, "period": 1}, "max_calls"),
        ({"max_calls": -1, "period": 1}, "max_calls"),
        ({"max_calls": True, "period": 1}, "max_calls"),
        ({"max_calls": 1.5, "period": 1}, "max_calls"),
        ({"max_calls": 1, "period": 0}, "period"),
        ({"max_calls": 1, "period": -2}, "period"),
        ({"max_calls": 1, "period": float("inf")}, "period"),
        ({"max_calls": 1, "period": "60"}, "period"),
        ({"max_calls": 1, "period": 1, "scope": 3}, "scope"),
        ({"max_calls": 1, "period": 1, "store": {}}, "store"),
    ],
)
def test_bad_arguments_fail_at_decoration(kwargs: dict[str, Any], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        rate_limit(**kwargs)


def test_unknown_scope_fails_at_decoration_naming_the_parameters() -> None:
    def f(user_id: str, *args: Any, **kwargs: Any) -> None: ...

    with pytest.raises(ConfigError, match=r"scope.*\['user_id'\].*'userid'"):
        rate_limit(max_calls=1, period=1, scope="userid")(f)
    with pytest.raises(ConfigError, match="scope"):
        rate_limit(max_calls=1, period=1, scope="kwargs")(f)


def test_bare_use_fails_with_usage() -> None:
    with pytest.raises(ConfigError, match=r"rate_limit needs arguments"):

        @rate_limit  # type: ignore[arg-type]
        def f() -> None: ...


def test_scope_keyword_only_and_positional_only(store: MemoryStore) -> None:
    @rate_limit(max_calls=1, period=60, scope="tenant")
    def kw(query: str, *, tenant: str = "acme") -> str:
        return query

    @rate_limit(max_calls=1, period=60, scope="tenant")
    def pos(tenant: str, /, query: str) -> str:
        return query

    kw("a")  # tenant from its default
    kw("a", tenant="other")
    with pytest.raises(RateLimitExceeded) as info:
        kw("b", tenant="acme")
    assert info.value.scope_value == "acme"
    pos("acme", "q")
    with pytest.raises(RateLimitExceeded):
        pos("acme", query="q")
