from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from actguard import (
    CircuitOpenError,
    ConfigError,
    MemoryStore,
    RateLimitExceeded,
    ToolTimeoutError,
    circuit_breaker,
    rate_limit,
    timeout,
)
from actguard.guards import DEFAULT_FAIL_ON, failure_kind
from actguard.testing import FakeClock, capture_events


class StatusError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


class Flaky:
    """A tool body that raises the queued exceptions, then returns 'ok'."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.calls = 0

    def __call__(self, *args: Any) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_opens_after_max_fails_then_one_probe_closes_it(store: MemoryStore, clock: FakeClock) -> None:
    body = Flaky()
    body.errors = [ConnectionError("down")] * 3
    write_order = circuit_breaker(name="postgres", max_fails=3, reset_timeout=60)(body)
    for _ in range(3):
        with pytest.raises(ConnectionError):
            write_order("o1")
    with pytest.raises(CircuitOpenError) as info:
        write_order("o1")
    assert (info.value.dependency_name, info.value.failures) == ("postgres", 3)
    assert info.value.retry_after == pytest.approx(60)
    assert body.calls == 3  # fail fast: not called while open
    clock.advance(59)
    with pytest.raises(CircuitOpenError) as info:
        write_order("o1")
    assert info.value.retry_after == pytest.approx(1)
    clock.advance(1)
    assert write_order("o1") == "ok"  # the probe
    assert write_order("o1") == "ok"  # closed again
    assert store.breaker_snapshot(_key("postgres"), 60).state == "closed"


def _key(name: str) -> str:
    from actguard.guards._keys import encode

    return encode("circuit_breaker", name)


def test_failed_probe_reopens_for_another_reset_timeout(store: MemoryStore, clock: FakeClock) -> None:
    body = Flaky()
    body.errors = [ConnectionError()] * 3
    f = circuit_breaker(name="db", max_fails=2, reset_timeout=10)(body)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            f()
    clock.advance(10)
    with pytest.raises(ConnectionError):
        f()  # the probe fails
    with pytest.raises(CircuitOpenError) as info:
        f()
    assert info.value.retry_after == pytest.approx(10)
    clock.advance(10)
    assert f() == "ok"


def test_only_consecutive_failures_count(store: MemoryStore) -> None:
    body = Flaky()
    f = circuit_breaker(name="api", max_fails=3, reset_timeout=10)(body)
    for errors in ([ConnectionError()] * 2, [], [ConnectionError()] * 2):
        body.errors = list(errors)
        for _ in errors:
            with pytest.raises(ConnectionError):
                f()
        if not errors:
            assert f() == "ok"  # a success resets the count
    assert f() == "ok"  # 2 + 2 failures, never 3 in a row: still closed


def test_state_is_shared_by_name(store: MemoryStore) -> None:
    a = circuit_breaker(name="postgres", max_fails=1, reset_timeout=60)(Flaky())
    b_body = Flaky()
    b = circuit_breaker(name="postgres", max_fails=1, reset_timeout=60)(b_body)
    other = circuit_breaker(name="redis", max_fails=1, reset_timeout=60)(Flaky())
    a.__wrapped__.errors = [OSError(110, "timed out")]  # type: ignore[attr-defined]
    with pytest.raises(TimeoutError):
        a()
    with pytest.raises(CircuitOpenError):
        b()
    assert b_body.calls == 0
    assert other() == "ok"


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ConnectionRefusedError(), "transport"),
        (TimeoutError(), "timeout"),
        (asyncio.TimeoutError(), "timeout"),
        (ToolTimeoutError(tool_name="t", timeout_s=1), "timeout"),
        (StatusError(503), "overloaded"),
        (StatusError(500), "overloaded"),
        (StatusError(429), "throttled"),
        (StatusError(401), "auth"),
        (StatusError(403), "auth"),
        (StatusError(404), "not_found"),
        (StatusError(409), "conflict"),
        (StatusError(422), "invalid_input"),
        (StatusError(408), "timeout"),
        (PermissionError(), "auth"),
        (FileNotFoundError(), "not_found"),
        (KeyError("x"), "not_found"),
        (ValueError(), "invalid_input"),
        (TypeError(), "invalid_input"),
        (RuntimeError(), "unknown"),
        (type("ReadTimeout", (Exception,), {})(), "timeout"),
        (type("APIConnectionError", (Exception,), {})(), "transport"),
        (type("RateLimitError", (Exception,), {})(), "throttled"),
        (type("AuthenticationError", (Exception,), {})(), "auth"),
        (type("NotFoundError", (Exception,), {})(), "not_found"),
    ],
)
def test_failure_kinds(exc: BaseException, kind: str) -> None:
    assert failure_kind(exc) == kind


def test_status_on_the_response_object() -> None:
    class Response:
        status_code = 502

    class HTTPStatusError(Exception):
        response = Response()

    assert failure_kind(HTTPStatusError()) == "overloaded"


@pytest.mark.parametrize(
    ("exc", "counts"),
    [
        (ConnectionError(), True),
        (StatusError(503), True),
        (StatusError(429), True),
        (RuntimeError(), True),  # unknown counts by default
        (ValueError(), False),  # the dependency answered: the request was wrong
        (StatusError(404), False),
        (StatusError(401), False),
        (StatusError(409), False),
    ],
)
def test_default_classification(store: MemoryStore, exc: Exception, counts: bool) -> None:
    body = Flaky()
    body.errors = [exc]
    f = circuit_breaker(name="dep", max_fails=1, reset_timeout=60)(body)
    with pytest.raises(type(exc)):
        f()
    if counts:
        with pytest.raises(CircuitOpenError):
            f()
    else:
        assert f() == "ok"


class QuotaError(Exception):
    pass


def test_fail_on_and_ignore_on_by_type_and_kind(store: MemoryStore) -> None:
    body = Flaky()
    # types beat kinds: QuotaError is "unknown" (ignored by kind) but listed by type
    f = circuit_breaker(name="a", max_fails=1, reset_timeout=60, fail_on=[QuotaError], ignore_on=["unknown"])(body)
    body.errors = [RuntimeError()]
    with pytest.raises(RuntimeError):
        f()
    assert f() == "ok"
    body.errors = [QuotaError()]
    with pytest.raises(QuotaError):
        f()
    with pytest.raises(CircuitOpenError):
        f()

    body2 = Flaky()
    g = circuit_breaker(name="b", max_fails=1, reset_timeout=60, ignore_on=[ConnectionResetError])(body2)
    body2.errors = [ConnectionResetError()]
    with pytest.raises(ConnectionResetError):
        g()
    assert g() == "ok"  # ignored although its kind (transport) counts by default

    body3 = Flaky()
    h = circuit_breaker(name="c", max_fails=1, reset_timeout=60, fail_on=[*DEFAULT_FAIL_ON, "not_found"])(body3)
    body3.errors = [StatusError(404)]
    with pytest.raises(StatusError):
        h()
    with pytest.raises(CircuitOpenError):
        h()


def test_timeout_inside_counts_as_a_timeout_failure(store: MemoryStore) -> None:
    release = threading.Event()

    @circuit_breaker(name="slow", max_fails=1, reset_timeout=60)
    @timeout(0.05)
    def slow() -> None:
        release.wait(10)

    try:
        with pytest.raises(ToolTimeoutError):
            slow()
        with pytest.raises(CircuitOpenError):
            slow()
    finally:
        release.set()


def test_inner_refusals_and_cancellation_do_not_count(store: MemoryStore, clock: FakeClock) -> None:
    body = Flaky()
    body.errors = [KeyboardInterrupt()]
    f = circuit_breaker(name="x", max_fails=1, reset_timeout=60)(rate_limit(max_calls=1, period=60)(body))
    with pytest.raises(KeyboardInterrupt):
        f()
    for _ in range(3):
        with pytest.raises(RateLimitExceeded):
            f()
    clock.advance(60)
    assert f() == "ok"  # never opened


def test_half_open_lets_exactly_one_probe_through_16_threads(store: MemoryStore, clock: FakeClock) -> None:
    entered = threading.Event()
    release = threading.Event()
    calls: list[int] = []
    fail = [True]

    @circuit_breaker(name="probe", max_fails=1, reset_timeout=5)
    def tool() -> str:
        calls.append(1)
        if fail[0]:
            fail[0] = False
            raise ConnectionError()
        entered.set()
        release.wait(10)
        return "ok"

    with pytest.raises(ConnectionError):
        tool()
    clock.advance(5)
    barrier = threading.Barrier(16)
    outcomes: list[str] = []
    changed = threading.Condition()

    def worker() -> None:
        barrier.wait()
        try:
            result = tool()
        except CircuitOpenError:
            result = "open"
        with changed:
            outcomes.append(result)
            changed.notify_all()

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    assert entered.wait(10)
    # The probe is inside the tool, and the others have been refused: no lock is held while it runs.
    with changed:
        assert changed.wait_for(lambda: len(outcomes) == 15, 10)
        assert outcomes == ["open"] * 15
    release.set()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1 and len(calls) == 2
    assert tool() == "ok"  # the probe's success closed the circuit


def test_no_lock_held_while_the_tool_runs(store: MemoryStore) -> None:
    @circuit_breaker(name="reentrant", max_fails=1, reset_timeout=5)
    def inner() -> str:
        return "inner"

    @circuit_breaker(name="reentrant", max_fails=1, reset_timeout=5)
    def outer() -> str:
        return inner()  # the same circuit, from inside a call on it

    assert outer() == "inner"


async def test_async_probe_among_many_tasks(store: MemoryStore, clock: FakeClock) -> None:
    release = asyncio.Event()
    fail = [True]

    @circuit_breaker(name="aprobe", max_fails=1, reset_timeout=5)
    async def tool() -> str:
        if fail[0]:
            fail[0] = False
            raise ConnectionError()
        await release.wait()
        return "ok"

    with pytest.raises(ConnectionError):
        await tool()
    with pytest.raises(CircuitOpenError):
        await tool()
    clock.advance(5)
    tasks = [asyncio.create_task(tool()) for _ in range(50)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results.count("ok") == 1
    assert all(isinstance(r, CircuitOpenError) for r in results if r != "ok")


async def test_cancelled_probe_hands_the_slot_back(store: MemoryStore, clock: FakeClock) -> None:
    started = asyncio.Event()
    fail = [True]

    @circuit_breaker(name="cancel", max_fails=1, reset_timeout=5)
    async def tool(block: bool) -> str:
        if fail[0]:
            fail[0] = False
            raise ConnectionError()
        if block:
            started.set()
            await asyncio.Event().wait()
        return "ok"

    with pytest.raises(ConnectionError):
        await tool(False)
    clock.advance(5)
    probe = asyncio.create_task(tool(True))
    await started.wait()
    with pytest.raises(CircuitOpenError):
        await tool(False)  # the probe is in flight
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert await tool(False) == "ok"  # a new probe went through and closed the circuit


def test_events(store: MemoryStore, clock: FakeClock) -> None:
    body = Flaky()
    body.errors = [ConnectionError()]
    f = circuit_breaker(name="ev", max_fails=1, reset_timeout=5)(body)
    with capture_events() as events:
        with pytest.raises(ConnectionError):
            f()
        with pytest.raises(CircuitOpenError):
            f()
        clock.advance(5)
        f()
    outcomes = [e["outcome"] for e in events.of(name="circuit_breaker")]
    assert outcomes == ["allowed", "opened", "blocked", "allowed", "closed"]
    assert events.of(outcome="blocked")[0]["payload"]["dependency"] == "ev"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": ""}, "name"),
        ({"name": 3}, "name"),
        ({"name": "x", "max_fails": 0}, "max_fails"),
        ({"name": "x", "reset_timeout": 0}, "reset_timeout"),
        ({"name": "x", "fail_on": ["boom"]}, r"fail_on.*transport"),
        ({"name": "x", "fail_on": [int]}, "fail_on"),
        ({"name": "x", "fail_on": 3}, "fail_on"),
        ({"name": "x", "ignore_on": ["nope"]}, "ignore_on"),
        ({"name": "x", "fail_on": ["timeout"], "ignore_on": ["timeout"]}, "both"),
        ({"name": "x", "fail_on": [ValueError], "ignore_on": [ValueError]}, "both"),
        ({"name": "x", "store": object()}, "store"),
        ({}, "name"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        circuit_breaker(**kwargs)


def test_generators_and_bare_use_refused() -> None:
    def gen() -> Any:
        yield 1

    with pytest.raises(ConfigError, match="generator"):
        circuit_breaker(name="g")(gen)
    with pytest.raises(ConfigError, match="needs arguments"):
        circuit_breaker(gen)
