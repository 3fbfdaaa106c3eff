"""A shared BudgetGuard reserves each LLM call's worst case before it is sent and settles it to the metered cost."""

from __future__ import annotations

import threading

import pytest

import actguard
from actguard import BudgetExceededError, BudgetGuard, ConfigError, LLMUsage
from actguard.testing import FakeClock


def usage(output: int, prompt: int = 100) -> LLMUsage:
    return LLMUsage(model="gpt-4o", provider="openai", input_tokens=prompt, output_tokens=output)


def test_worst_case_is_reserved_then_settled_to_the_metered_cost() -> None:
    store = actguard.MemoryStore()
    with BudgetGuard(user_id="u", token_limit=1_000, shared=True, store=store) as guard:
        guard.check_call("gpt-4o", provider="openai", prompt_tokens=100, max_output_tokens=500)  # holds 600
        other = store.spend_reserve(
            "actguard:budget::u", "x", 0.0, 401, usd_limit=None, token_limit=1_000, ttl=None, lease=60
        )
        assert not other.granted  # 600 held + 401 would cross 1,000
        guard.record(usage(50), call_id="c1")  # settles: 150 spent, nothing held
        assert guard.shared_usage().tokens == 150
        guard.check_call("gpt-4o", provider="openai", prompt_tokens=100, max_output_tokens=750)  # 150 + 850 fits
        with pytest.raises(BudgetExceededError) as info:
            BudgetGuard(user_id="u", token_limit=1_000, shared=True, store=store).check_call(
                "gpt-4o", provider="openai", prompt_tokens=1, max_output_tokens=0
            )  # another worker: 150 spent + 850 held is the limit already
    # at the limit, `used` is what is spent and held, not a call that never ran
    assert (info.value.limit_type, info.value.limit, info.value.used) == ("token", 1_000, 1_000)


def test_a_call_that_was_never_recorded_hands_its_reservation_back() -> None:
    store = actguard.MemoryStore()
    with BudgetGuard(user_id="u", token_limit=1_000, shared=True, store=store) as guard:
        guard.check_call("gpt-4o", provider="openai", prompt_tokens=100, max_output_tokens=800)
        # the request failed before any usage came back; the next call here releases the 900 first
        guard.check_call("gpt-4o", provider="openai", prompt_tokens=100, max_output_tokens=800)


def held_by_others(store: actguard.MemoryStore, limit: int) -> int:
    """Tokens another worker can still reserve under ``limit`` (the largest grant, found by bisection)."""
    low, high = 0, limit
    while low < high:
        mid = (low + high + 1) // 2
        probe = store.spend_reserve(
            "actguard:budget::u", f"probe-{mid}", 0.0, mid, usd_limit=None, token_limit=limit, ttl=None, lease=60
        )
        if probe.granted:
            store.spend_settle("actguard:budget::u", f"probe-{mid}", 0.0, 0, ttl=None)  # hand it back
            low = mid
        else:
            high = mid - 1
    return low


def test_without_a_max_the_guard_reserves_its_reserve_or_what_is_left() -> None:
    store = actguard.MemoryStore()
    with BudgetGuard(user_id="u", token_limit=10_000, shared=True, store=store) as guard:
        guard.check_call("gpt-4o", provider="openai", prompt_tokens=100)  # the default: 100 + 4,096 held
        assert held_by_others(store, 10_000) == 10_000 - 4_196
    store = actguard.MemoryStore()
    with BudgetGuard(user_id="u", token_limit=10_000, shared=True, reserve=1_000, store=store) as guard:
        guard.check_call("gpt-4o", provider="openai", prompt_tokens=100)  # the given reserve: 1,100 held
        assert held_by_others(store, 10_000) == 10_000 - 1_100
    # A budget smaller than the default guess is not refused for it: the call holds what is left after its prompt.
    store = actguard.MemoryStore()
    with BudgetGuard(user_id="u", token_limit=1_000, shared=True, store=store) as guard:
        guard.check_call("gpt-4o", provider="openai", prompt_tokens=100)
        assert held_by_others(store, 1_000) == 0
        guard.record(usage(600), call_id="c1")  # 700 spent; the reservation is settled
        guard.check_call("gpt-4o", provider="openai", prompt_tokens=100)  # 200 of output still fit
        assert held_by_others(store, 1_000) == 0
        guard.record(usage(199), call_id="c2")  # 999 spent
        with pytest.raises(BudgetExceededError) as info:
            guard.check_call("gpt-4o", provider="openai", prompt_tokens=1)  # not one output token fits
    assert (info.value.limit_type, info.value.limit) == ("token", 1_000)
    for bad in (-1, 1.5, True, "1000"):
        with pytest.raises(ConfigError, match="reserve"):
            BudgetGuard(user_id="u", shared=True, reserve=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="shared=True"):
        BudgetGuard(user_id="u", reserve=100)


def test_without_a_max_a_usd_limit_reserves_what_is_left_at_the_models_price() -> None:
    store = actguard.MemoryStore()
    with BudgetGuard(user_id="u", usd_limit=0.01, shared=True, store=store) as guard:
        # gpt-4o: 4,096 output tokens cost about $0.04, more than the whole limit; the call holds the $0.01 left
        guard.check_call("gpt-4o", provider="openai", prompt_tokens=100)
        other = store.spend_reserve(
            "actguard:budget::u", "x", 0.0001, 0, usd_limit=0.01, token_limit=None, ttl=None, lease=60
        )
        assert not other.granted


def test_a_crashed_workers_reservation_expires() -> None:
    clock = FakeClock()
    store = actguard.MemoryStore(clock=clock)

    def worker_that_dies() -> None:  # reserves, then its thread ends without recording or leaving the guard
        BudgetGuard(user_id="u", token_limit=1_000, shared=True, store=store).__enter__().check_call(
            "gpt-4o", provider="openai", prompt_tokens=100, max_output_tokens=900
        )

    worker = threading.Thread(target=worker_that_dies)
    worker.start()
    worker.join()
    with BudgetGuard(user_id="u", token_limit=1_000, shared=True, store=store) as guard:
        with pytest.raises(BudgetExceededError):
            guard.check_call("gpt-4o", provider="openai", prompt_tokens=100, max_output_tokens=100)
        clock.advance(900)  # the lease (15 minutes) ends
        guard.check_call("gpt-4o", provider="openai", prompt_tokens=100, max_output_tokens=100)


@pytest.mark.parametrize("shared", [False, True])
def test_add_cost_that_crosses_records_then_raises(shared: bool) -> None:
    kwargs = {"shared": True, "store": actguard.MemoryStore()} if shared else {}
    with BudgetGuard(user_id="u", usd_limit=1.0, **kwargs) as guard:  # type: ignore[arg-type]
        guard.add_cost("search", 0.6)
        with pytest.raises(BudgetExceededError) as info:
            actguard.add_cost("search", 0.6)
        assert guard.costs == {"search": pytest.approx(1.2)}
        assert guard.usd_used == pytest.approx(1.2)
        if shared:
            assert guard.shared_usage().usd == pytest.approx(1.2)
    assert (info.value.limit_type, info.value.limit, info.value.used) == ("usd", 1.0, pytest.approx(1.2))


def test_reservations_are_handed_back_when_an_outer_guard_refuses_or_the_guard_exits() -> None:
    store = actguard.MemoryStore()
    key = "actguard:budget::inner"
    outer = BudgetGuard(token_limit=10, strict=True)
    with outer, BudgetGuard(user_id="inner", token_limit=1_000, shared=True, store=store) as inner:
        with pytest.raises(BudgetExceededError) as info:  # the inner guard reserved 905, then the outer refused
            inner.check_call("gpt-4o", provider="openai", prompt_tokens=5, max_output_tokens=900)
        assert info.value.limit == 10
    assert store.spend_reserve(key, "probe", 0.0, 1_000, usd_limit=None, token_limit=1_000, ttl=None, lease=60).granted
    store.spend_settle(key, "probe", 0.0, 0, None)
    with BudgetGuard(user_id="inner", token_limit=1_000, shared=True, store=store) as guard:
        guard.check_call("gpt-4o", provider="openai", prompt_tokens=5, max_output_tokens=900)  # the call then fails
    # the guard is gone: its unrecorded call's 905 tokens are free again
    assert store.spend_reserve(key, "probe2", 0.0, 1_000, usd_limit=None, token_limit=1_000, ttl=None, lease=60).granted
