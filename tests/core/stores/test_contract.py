"""The store contract: every operation behaves the same on memory, SQLite and Redis, sync and async.

Each test runs against every backend (the ``backend`` fixture) in both modes (``call`` runs ``store.op`` or
``await store.aop``). Time moves only through ``backend.advance``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

import actguard
from actguard.stores import BreakerSnapshot, Claim, SpendTotals, WindowDecision


@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest, backend: Any) -> Callable[..., Any]:
    """``await call("hit_window", key, ...)`` runs the sync operation or its async twin."""
    store = backend.store

    async def run(op: str, *args: Any, **kwargs: Any) -> Any:
        if request.param == "async":
            return await getattr(store, "a" + op)(*args, **kwargs)
        return getattr(store, op)(*args, **kwargs)

    return run


# -- rate-limit windows ------------------------------------------------------------------------------------------
async def test_window_admits_limit_then_refuses_until_the_oldest_hit_leaves(backend: Any, call: Any) -> None:
    assert await call("hit_window", "k", 2, 60) == WindowDecision(True, 1, 0.0)
    backend.advance(10)
    assert await call("hit_window", "k", 2, 60) == WindowDecision(True, 2, 0.0)
    refused = await call("hit_window", "k", 2, 60)
    assert (refused.allowed, refused.count) == (False, 2)
    assert refused.retry_after == pytest.approx(50, abs=0.01)
    backend.advance(50)  # the first hit leaves the window; the second stays
    assert (await call("hit_window", "k", 2, 60)).allowed
    refused = await call("hit_window", "k", 2, 60)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(10, abs=0.01)


async def test_window_refused_hits_are_not_counted_and_keys_are_independent(backend: Any, call: Any) -> None:
    assert (await call("hit_window", "a", 1, 30)).allowed
    for _ in range(5):
        assert not (await call("hit_window", "a", 1, 30)).allowed
    assert (await call("hit_window", "b", 1, 30)).allowed
    backend.advance(30)  # exactly one period after the admitted hit: it has left the window
    assert (await call("hit_window", "a", 1, 30)).allowed


async def test_window_is_exact_under_threads(backend: Any) -> None:
    store, limit, admitted = backend.store, 7, []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        admitted.extend(d.allowed for d in (store.hit_window("hot", limit, 3600) for _ in range(5)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(admitted) == limit


async def test_window_is_exact_under_tasks(backend: Any) -> None:
    store = backend.store
    decisions = await asyncio.gather(*(store.ahit_window("hot", 5, 3600) for _ in range(40)))
    assert sum(d.allowed for d in decisions) == 5


# -- circuit breakers --------------------------------------------------------------------------------------------
async def record(call: Any, success: bool, probe: bool = False) -> BreakerSnapshot:
    result: BreakerSnapshot = await call(
        "breaker_record", "db", success=success, probe=probe, max_fails=3, reset_timeout=60
    )
    return result


async def test_breaker_opens_after_max_fails_and_lets_one_probe_through(backend: Any, call: Any) -> None:
    assert (await call("breaker_acquire", "db", 60)).allowed
    assert await record(call, False) == BreakerSnapshot("closed", 1, 0.0)
    assert await record(call, False) == BreakerSnapshot("closed", 2, 0.0)
    opened = await record(call, False)
    assert (opened.state, opened.failures) == ("open", 3)
    assert opened.retry_after == pytest.approx(60, abs=0.01)

    backend.advance(20)
    refused = await call("breaker_acquire", "db", 60)
    assert (refused.allowed, refused.probe, refused.failures) == (False, False, 3)
    assert refused.retry_after == pytest.approx(40, abs=0.01)
    snap = await call("breaker_snapshot", "db", 60)
    assert snap.state == "open"

    backend.advance(40)
    assert (await call("breaker_snapshot", "db", 60)).state == "half_open"
    probe = await call("breaker_acquire", "db", 60)
    assert (probe.allowed, probe.probe) == (True, True)
    assert not (await call("breaker_acquire", "db", 60)).allowed  # one probe at a time
    assert await record(call, True, probe=True) == BreakerSnapshot("closed", 0, 0.0)
    assert (await call("breaker_acquire", "db", 60)).allowed
    assert await call("breaker_snapshot", "db", 60) == BreakerSnapshot("closed", 0, 0.0)


async def test_breaker_failed_probe_reopens_and_release_hands_the_probe_back(backend: Any, call: Any) -> None:
    for _ in range(3):
        await record(call, False)
    backend.advance(60)
    assert (await call("breaker_acquire", "db", 60)).probe
    reopened = await record(call, False, probe=True)
    assert (reopened.state, reopened.failures) == ("open", 4)
    assert reopened.retry_after == pytest.approx(60, abs=0.01)
    backend.advance(60)
    assert (await call("breaker_acquire", "db", 60)).probe
    await call("breaker_release", "db", probe=True)  # the probe's outcome did not count: next caller probes
    assert (await call("breaker_acquire", "db", 60)).probe


async def test_breaker_lost_probe_is_replaced_after_reset_timeout(backend: Any, call: Any) -> None:
    for _ in range(3):
        await record(call, False)
    backend.advance(60)
    assert (await call("breaker_acquire", "db", 60)).probe  # this worker then dies without reporting
    backend.advance(30)
    held = await call("breaker_acquire", "db", 60)
    assert not held.allowed
    assert held.retry_after == pytest.approx(30, abs=0.01)
    backend.advance(30)
    assert (await call("breaker_acquire", "db", 60)).probe


async def test_breaker_success_resets_consecutive_failures(backend: Any, call: Any) -> None:
    await record(call, False)
    await record(call, False)
    await record(call, True)
    assert (await record(call, False)).failures == 1
    assert (await call("breaker_acquire", "other", 60)).failures == 0


async def test_breaker_grants_exactly_one_probe_under_threads(backend: Any) -> None:
    store = backend.store
    for _ in range(3):
        store.breaker_record("db", success=False, probe=False, max_fails=3, reset_timeout=60)
    backend.advance(60)
    barrier, probes = threading.Barrier(8), []

    def worker() -> None:
        barrier.wait()
        probes.append(store.breaker_acquire("db", 60).probe)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(probes) == 1


# -- counters ----------------------------------------------------------------------------------------------------
async def test_counter_counts_and_expires_after_its_first_increment(backend: Any, call: Any) -> None:
    assert [await call("incr", "run-1", 100) for _ in range(3)] == [1, 2, 3]
    assert await call("incr", "run-2", 100) == 1
    backend.advance(99)
    assert await call("incr", "run-1", 100) == 4  # later increments do not extend the life of the counter
    backend.advance(1)
    assert await call("incr", "run-1", 100) == 1


# -- idempotency -------------------------------------------------------------------------------------------------
async def test_claim_runs_once_and_hands_the_result_to_duplicates(backend: Any, call: Any) -> None:
    assert await call("idem_claim", "inv-42", 600) == Claim("claimed")
    assert await call("idem_claim", "inv-42", 600) == Claim("in_progress")
    result = {"invoice": "in_1", "amount": 5000, "lines": [1, 2.5, None, True, "x"]}
    await call("idem_complete", "inv-42", result, 600)
    assert await call("idem_claim", "inv-42", 600) == Claim("done", result)
    backend.advance(600)
    assert await call("idem_claim", "inv-42", 600) == Claim("claimed")


async def test_claim_release_and_unknown_outcome(backend: Any, call: Any) -> None:
    assert (await call("idem_claim", "a", 600)).status == "claimed"
    await call("idem_release", "a")
    assert (await call("idem_claim", "a", 600)).status == "claimed"
    await call("idem_mark_unknown", "a", 300)
    backend.advance(100)
    unknown = await call("idem_claim", "a", 600)
    assert unknown.status == "unknown"
    assert unknown.retry_after == pytest.approx(200, abs=0.01)
    backend.advance(200)
    assert (await call("idem_claim", "a", 600)).status == "claimed"


async def test_in_progress_claim_expires_so_a_crashed_owner_does_not_block_forever(backend: Any, call: Any) -> None:
    assert (await call("idem_claim", "a", 10)).status == "claimed"
    backend.advance(10)
    assert (await call("idem_claim", "a", 10)).status == "claimed"


async def test_claim_is_exclusive_under_threads(backend: Any) -> None:
    store, barrier, statuses = backend.store, threading.Barrier(8), []

    def worker() -> None:
        barrier.wait()
        statuses.append(store.idem_claim("once", 600).status)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == ["claimed"] + ["in_progress"] * 7


async def test_shared_stores_refuse_results_they_cannot_serialise(backend: Any, call: Any) -> None:
    await call("idem_claim", "obj", 600)
    if backend.name == "memory":  # the memory store keeps the object itself
        marker = object()
        await call("idem_complete", "obj", marker, 600)
        assert (await call("idem_claim", "obj", 600)).result is marker
        return
    with pytest.raises(actguard.ConfigError, match=r"cannot store an idempotent result of type object.*pickle"):
        await call("idem_complete", "obj", object(), 600)
    # the call ran once; the key now refuses repeats instead of running the tool again
    assert (await call("idem_claim", "obj", 600)).status == "unknown"


# -- facts -------------------------------------------------------------------------------------------------------
async def test_facts_prove_expire_and_clear(backend: Any, call: Any) -> None:
    await call("facts_add", "s1", "order_id", ["o1", "o2"], 100)
    assert await call("facts_missing", "s1", "order_id", ["o1", "o3", "o2", "o4"]) == ["o3", "o4"]
    assert await call("facts_missing", "s1", "customer_id", ["o1"]) == ["o1"]  # kinds are separate
    assert await call("facts_missing", "s2", "order_id", ["o1"]) == ["o1"]  # so are namespaces
    backend.advance(50)
    await call("facts_add", "s1", "order_id", ["o1"], 100)  # re-proving refreshes
    backend.advance(50)
    assert await call("facts_missing", "s1", "order_id", ["o1", "o2"]) == ["o2"]
    await call("facts_clear", "s1")
    assert await call("facts_missing", "s1", "order_id", ["o1"]) == ["o1"]
    assert await call("facts_missing", "s1", "order_id", []) == []


async def test_fact_kinds_and_values_do_not_collide(backend: Any, call: Any) -> None:
    await call("facts_add", "s", "a", ["bc"], 100)
    assert await call("facts_missing", "s", "ab", ["c"]) == ["c"]
    many = [f"id-{i}" for i in range(1200)]
    await call("facts_add", "s", "k", many, 100)
    assert await call("facts_missing", "s", "k", [*many, "nope"]) == ["nope"]


# -- spend -------------------------------------------------------------------------------------------------------
async def test_spend_accumulates_and_expires(backend: Any, call: Any) -> None:
    assert await call("spend_get", "alice") == SpendTotals(0.0, 0)
    first = await call("spend_add", "alice", 0.25, 100, 86400)
    assert (first.usd, first.tokens) == (pytest.approx(0.25), 100)
    second = await call("spend_add", "alice", 0.5, 50, 86400)
    assert (second.usd, second.tokens) == (pytest.approx(0.75), 150)
    got = await call("spend_get", "alice")
    assert (got.usd, got.tokens) == (pytest.approx(0.75), 150)
    backend.advance(86400)
    assert await call("spend_get", "alice") == SpendTotals(0.0, 0)
    again = await call("spend_add", "alice", 0.1, 1, 86400)
    assert (again.usd, again.tokens) == (pytest.approx(0.1), 1)


async def test_spend_without_ttl_never_expires(backend: Any, call: Any) -> None:
    await call("spend_add", "forever", 1.5, 10, None)
    backend.advance(10**7)
    got = await call("spend_add", "forever", 0.000001, 0, None)
    assert (got.usd, got.tokens) == (pytest.approx(1.500001), 10)


async def test_spend_is_exact_under_threads(backend: Any) -> None:
    store = backend.store

    def worker() -> None:
        for _ in range(25):
            store.spend_add("team", 0.01, 3, 3600)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = store.spend_get("team")
    assert total.tokens == 600
    assert total.usd == pytest.approx(2.0)


async def test_reservations_count_against_the_limit_until_settled(backend: Any, call: Any) -> None:
    limits = {"usd_limit": 1.0, "token_limit": 1_000, "ttl": 86400, "lease": 60}
    first = await call("spend_reserve", "bob", "op1", 0.4, 400, **limits)
    assert (first.granted, first.usd, first.tokens) == (True, pytest.approx(0.4), 400)
    second = await call("spend_reserve", "bob", "op2", 0.4, 400, **limits)
    assert (second.granted, second.tokens) == (True, 800)
    refused = await call("spend_reserve", "bob", "op3", 0.4, 100, **limits)  # $1.20 would cross $1
    assert (refused.granted, refused.usd, refused.tokens) == (False, pytest.approx(0.8), 800)
    again = await call("spend_reserve", "bob", "op2", 0.4, 400, **limits)  # the same op id replaces, never adds
    assert (again.granted, again.tokens) == (True, 800)
    assert await call("spend_get", "bob") == SpendTotals(0.0, 0)  # reservations are not spend
    settled = await call("spend_settle", "bob", "op1", 0.1, 120, 86400)  # the call cost less than its worst case
    assert (settled.usd, settled.tokens) == (pytest.approx(0.1), 120)
    fits = await call("spend_reserve", "bob", "op3", 0.4, 100, **limits)  # 0.1 spent + 0.4 held + 0.4
    assert (fits.granted, fits.usd, fits.tokens) == (True, pytest.approx(0.9), 620)


async def test_a_dead_workers_reservation_expires_with_its_lease(backend: Any, call: Any) -> None:
    limits = {"usd_limit": None, "token_limit": 1_000, "ttl": None, "lease": 60}
    assert (await call("spend_reserve", "carol", "crashed", 0.0, 1_000, **limits)).granted
    assert not (await call("spend_reserve", "carol", "next", 0.0, 1, **limits)).granted
    backend.advance(60)  # the worker holding it died; its lease ends
    assert (await call("spend_reserve", "carol", "next", 0.0, 1_000, **limits)).granted
    late = await call("spend_settle", "carol", "crashed", 0.0, 10, None)  # a late settle still adds its spend
    assert late.tokens == 10


async def test_window_with_a_lower_limit_waits_for_the_right_hit(backend: Any, call: Any) -> None:
    for _ in range(3):  # hits at 0, 10, 20
        assert (await call("hit_window", "k", 3, 60)).allowed
        backend.advance(10)
    refused = await call("hit_window", "k", 2, 60)  # the limit was lowered to 2 (at 30)
    assert (refused.allowed, refused.count) == (False, 3)
    assert refused.retry_after == pytest.approx(40, abs=0.01)  # at 70 the hit at 10 leaves: one remains, below 2


# -- any str -----------------------------------------------------------------------------------------------------
async def test_any_str_key_or_value_is_accepted_and_kept_apart(backend: Any, call: Any) -> None:
    """Lone surrogates (valid in JSON tool arguments) work as keys and values on every store, distinct from each
    other and from the text that spells them."""
    lone, other, spelled = "inv-\ud800", "inv-\udc00", "inv-\\ud800"
    assert (await call("idem_claim", lone, 60)).status == "claimed"
    assert (await call("idem_claim", other, 60)).status == "claimed"
    assert (await call("idem_claim", spelled, 60)).status == "claimed"
    await call("idem_complete", lone, {"id": "\ud800"}, 60)
    assert (await call("idem_claim", lone, 60)).result == {"id": "\ud800"}
    assert (await call("hit_window", lone, 1, 60)).allowed
    assert not (await call("hit_window", lone, 1, 60)).allowed
    assert (await call("hit_window", other, 1, 60)).allowed
    await call("facts_add", "ns-\udfff", "order_id", [lone, "plain"], 60)
    assert await call("facts_missing", "ns-\udfff", "order_id", [other, lone, "plain", spelled]) == [other, spelled]
    assert (await call("spend_add", lone, 0.5, 5, None)).tokens == 5
    assert (await call("spend_get", other)).tokens == 0
    assert (await call("spend_settle", lone, "op", 0.5, 5, None)).tokens == 10
