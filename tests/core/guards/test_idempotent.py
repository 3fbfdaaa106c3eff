from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from actguard import (
    ConfigError,
    DuplicateIdempotencyKey,
    IdempotencyInProgress,
    IdempotencyOutcomeUnknown,
    MemoryStore,
    MissingRuntimeContextError,
    RunContext,
    bind_context,
    idempotent,
)
from actguard.testing import FakeClock, capture_events


def make_invoicer(**options: Any) -> tuple[Any, list[str]]:
    effects: list[str] = []

    @idempotent(**options)
    def create_invoice(user_id: str, amount_cents: int, *, idempotency_key: str) -> str:
        """Create an invoice."""
        effects.append(idempotency_key)
        return f"inv-{len(effects)}"

    return create_invoice, effects


def test_a_duplicate_returns_the_first_result(store: MemoryStore) -> None:
    create_invoice, effects = make_invoicer(ttl_s=600)
    with RunContext():
        first = create_invoice("alice", 5000, idempotency_key="inv-42")
        again = create_invoice("alice", 5000, idempotency_key="inv-42")
        other = create_invoice("alice", 5000, idempotency_key="inv-43")
    assert (first, again, other) == ("inv-1", "inv-1", "inv-2")
    assert effects == ["inv-42", "inv-43"]


def test_on_duplicate_raise(store: MemoryStore) -> None:
    create_invoice, _ = make_invoicer(on_duplicate="raise")
    with RunContext():
        create_invoice("a", 1, idempotency_key="k")
        with pytest.raises(DuplicateIdempotencyKey) as info:
            create_invoice("a", 1, idempotency_key="k")
    assert info.value.idempotency_key == "k" and info.value.tool_name == "create_invoice"


def test_key_by_position_and_bare_use(store: MemoryStore) -> None:
    calls: list[str] = []

    @idempotent
    def charge(idempotency_key: str, amount: int = 1) -> int:
        calls.append(idempotency_key)
        return amount

    with RunContext():
        assert charge("k1", 5) == 5
        assert charge(idempotency_key="k1", amount=7) == 5  # same key by keyword: the first result
    assert calls == ["k1"]


def test_runs_are_independent_and_a_run_is_required(store: MemoryStore) -> None:
    create_invoice, effects = make_invoicer()
    with RunContext(run_id="a:b"):
        create_invoice("u", 1, idempotency_key="c")
    with RunContext(run_id="a"):
        create_invoice("u", 1, idempotency_key="b:c")  # would collide under a naive "run:key" join
    assert effects == ["c", "b:c"]
    with pytest.raises(MissingRuntimeContextError, match="RunContext"):
        create_invoice("u", 1, idempotency_key="c")


def test_concurrent_duplicate_is_in_progress(store: MemoryStore) -> None:
    entered = threading.Event()
    release = threading.Event()

    @idempotent
    def slow(idempotency_key: str) -> str:
        entered.set()
        release.wait(10)
        return "done"

    results: list[str] = []
    with RunContext():
        t = threading.Thread(target=bind_context(lambda: results.append(slow("k"))))
        t.start()
        assert entered.wait(10)
        with pytest.raises(IdempotencyInProgress):
            slow("k")
        release.set()
        t.join()
        assert slow("k") == "done"
    assert results == ["done"]


def test_concurrent_duplicates_16_threads(store: MemoryStore) -> None:
    runs: list[int] = []
    barrier = threading.Barrier(16)
    release = threading.Event()

    @idempotent
    def once(idempotency_key: str) -> str:
        runs.append(1)
        release.wait(10)
        return "r"

    outcomes: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        try:
            once("same")
            out = "ran"
        except IdempotencyInProgress:
            out = "busy"
        with lock:
            outcomes.append(out)
            if len(outcomes) == 15:
                release.set()

    with RunContext():
        threads = [threading.Thread(target=bind_context(worker)) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(runs) == 1 and sorted(outcomes) == ["busy"] * 15 + ["ran"]


async def test_async_concurrent_duplicates(store: MemoryStore) -> None:
    release = asyncio.Event()
    runs: list[int] = []

    @idempotent(ttl_s=60)
    async def once(idempotency_key: str) -> str:
        runs.append(1)
        await release.wait()
        return "r"

    async with RunContext():
        first = asyncio.create_task(once("k"))
        await asyncio.sleep(0)
        others = await asyncio.gather(*(once("k") for _ in range(20)), return_exceptions=True)
        release.set()
        assert await first == "r"
        assert await once("k") == "r"
    assert all(isinstance(o, IdempotencyInProgress) for o in others) and runs == [1]


class Declined(Exception):
    pass


def test_safe_failure_releases_other_failure_is_unknown_until_ttl(store: MemoryStore, clock: FakeClock) -> None:
    errors: list[BaseException] = [Declined(), RuntimeError("half done")]
    effects: list[str] = []

    @idempotent(ttl_s=100, safe_exceptions=(Declined,))
    def pay(idempotency_key: str) -> str:
        if errors:
            raise errors.pop(0)
        effects.append(idempotency_key)
        return "paid"

    with RunContext():
        with pytest.raises(Declined):
            pay("k")
        with pytest.raises(RuntimeError):
            pay("k")  # released: it ran again, and failed with an unknown outcome
        with pytest.raises(IdempotencyOutcomeUnknown) as info:
            pay("k")
        assert info.value.retry_after == pytest.approx(100)
        clock.advance(100)
        assert pay("k") == "paid"
    assert effects == ["k"]


def test_interrupt_releases_the_key(store: MemoryStore) -> None:
    interrupts = [KeyboardInterrupt()]

    @idempotent
    def job(idempotency_key: str) -> str:
        if interrupts:
            raise interrupts.pop()
        return "ok"

    with RunContext():
        with pytest.raises(KeyboardInterrupt):
            job("k")
        assert job("k") == "ok"


async def test_cancellation_releases_the_key(store: MemoryStore) -> None:
    started = asyncio.Event()
    block = [True, False]

    @idempotent
    async def job(idempotency_key: str) -> str:
        if block.pop(0):
            started.set()
            await asyncio.Event().wait()
        return "ok"

    async with RunContext():
        task = asyncio.create_task(job("k"))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await job("k") == "ok"


def test_results_expire_after_ttl(store: MemoryStore, clock: FakeClock) -> None:
    create_invoice, effects = make_invoicer(ttl_s=10)
    with RunContext():
        create_invoice("a", 1, idempotency_key="k")
        clock.advance(10)
        assert create_invoice("a", 1, idempotency_key="k") == "inv-2"
    assert effects == ["k", "k"]


def test_key_must_be_a_non_empty_string(store: MemoryStore) -> None:
    create_invoice, effects = make_invoicer()
    with RunContext():
        for bad in ("", None, 42):
            with pytest.raises(ConfigError, match="idempotency_key"):
                create_invoice("a", 1, idempotency_key=bad)
    assert effects == []


def test_events(store: MemoryStore) -> None:
    create_invoice, _ = make_invoicer()
    with capture_events() as events, RunContext():
        create_invoice("a", 1, idempotency_key="k")
        create_invoice("a", 1, idempotency_key="k")
    assert [e["outcome"] for e in events.of(name="idempotent")] == ["allowed", "intervened"]


def test_metadata_kept(store: MemoryStore) -> None:
    import inspect

    create_invoice, _ = make_invoicer()
    assert create_invoice.__name__ == "create_invoice" and create_invoice.__doc__ == "Create an invoice."
    assert list(inspect.signature(create_invoice).parameters) == ["user_id", "amount_cents", "idempotency_key"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"on_duplicate": "ignore"}, r"on_duplicate.*\['return', 'raise'\]"),
        ({"ttl_s": 0}, "ttl_s"),
        ({"ttl_s": "1h"}, "ttl_s"),
        ({"safe_exceptions": ["ValueError"]}, "safe_exceptions"),
        ({"store": 1}, "store"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        idempotent(**kwargs)


def test_function_without_the_key_parameter_and_generators_refused() -> None:
    def no_key(user_id: str, **kwargs: Any) -> None: ...

    def gen(idempotency_key: str) -> Any:
        yield 1

    with pytest.raises(ConfigError, match="idempotency_key"):
        idempotent(no_key)
    with pytest.raises(ConfigError, match="generator"):
        idempotent(gen)
    with pytest.raises(ConfigError, match="keyword arguments"):
        idempotent(600)  # type: ignore[call-overload]
