"""BudgetGuard itself: validation, nesting, recording once, add_cost, concurrency, shared budgets."""

from __future__ import annotations

import asyncio
import math
import threading
from typing import Any

import pytest

import actguard
from actguard import BudgetExceededError, BudgetGuard, ConfigError, LLMUsage, UnknownModelPriceError
from actguard.testing import FakeClock

GPT4O = LLMUsage("gpt-4o", "openai", input_tokens=1000, output_tokens=100)  # $0.0035, 1100 tokens


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"usd_limit": -1}, "usd_limit"),
        ({"usd_limit": 0}, "usd_limit"),
        ({"usd_limit": math.nan}, "usd_limit"),
        ({"usd_limit": math.inf}, "usd_limit"),
        ({"usd_limit": "5"}, "usd_limit"),
        ({"usd_limit": True}, "usd_limit"),
        ({"token_limit": 1.5}, "token_limit"),
        ({"token_limit": 0}, "token_limit"),
        ({"token_limit": -10}, "token_limit"),
        ({"user_id": 7}, "user_id"),
        ({"name": 7}, "name"),
        ({"strict": "yes"}, "strict"),
        ({"on_unknown_model": "ignore"}, "on_unknown_model"),
        ({"on_unknown_model": "warn"}, "fallback_price"),
        ({"fallback_price": {"input_per_mtok": 1, "output_per_mtok": 1}}, "fallback_price"),
        (
            {"on_unknown_model": "warn", "fallback_price": {"input_per_mtok": -1, "output_per_mtok": 1}},
            "fallback_price",
        ),
        ({"on_unknown_model": "warn", "fallback_price": (1, 2)}, "fallback_price"),
        ({"window": "1d"}, "shared=True"),
        ({"shared": True}, "user_id or a name"),
        ({"shared": True, "user_id": "a", "window": "1 fortnight"}, "window"),
        ({"shared": True, "user_id": "a", "window": -5}, "window"),
        ({"shared": True, "user_id": "a", "store": "redis://"}, "store"),
    ],
)
def test_invalid_arguments_fail_at_construction(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        BudgetGuard(**kwargs)


def test_nested_guards_charge_every_level_and_enforce_their_own_limits() -> None:
    with BudgetGuard(name="request", usd_limit=0.01) as outer:
        with BudgetGuard(name="step", token_limit=2000) as inner:
            inner.record(GPT4O, call_id="c1")
            inner.check()
            inner.record(GPT4O, call_id="c2")
            with pytest.raises(BudgetExceededError) as info:
                inner.check()
            assert (info.value.limit_type, info.value.guard_name) == ("token", "step")
        assert outer.tokens_used == 2200
        outer.check()  # $0.007 of $0.01
        with BudgetGuard(name="step2") as second:
            second.record(GPT4O, call_id="c3")
            with pytest.raises(BudgetExceededError) as info:
                second.check()  # the enclosing guard's limit
            assert info.value.guard_name == "request"
    assert outer.usage.calls == 3
    assert actguard.current_budget() is None


def test_record_is_idempotent_per_call_id_and_returns_cost() -> None:
    with BudgetGuard() as guard:
        assert guard.record(GPT4O, call_id="x") == pytest.approx(0.0035)
        assert guard.record(GPT4O, call_id="x") == pytest.approx(0.0035)
        guard.record(GPT4O)  # no id: always counted
    assert guard.usage.calls == 2


def test_record_remembers_the_newest_call_ids() -> None:
    from actguard.budget._guard import _SEEN_CALLS_MAX

    guard = BudgetGuard()
    for i in range(_SEEN_CALLS_MAX + 1):  # one more than remembered: "c0", the oldest, is forgotten
        guard.record(GPT4O, call_id=f"c{i}")
    guard.record(GPT4O, call_id=f"c{_SEEN_CALLS_MAX}")  # the newest: still counted once
    guard.record(GPT4O, call_id="c1")  # the oldest one remembered
    assert guard.usage.calls == _SEEN_CALLS_MAX + 1
    guard.record(GPT4O, call_id="c0")
    assert guard.usage.calls == _SEEN_CALLS_MAX + 2


def test_record_never_raises_and_check_does() -> None:
    with BudgetGuard(usd_limit=0.001) as guard:
        guard.record(GPT4O)
        assert guard.exceeded() is not None
        with pytest.raises(BudgetExceededError, match=r"used \$0.003500 of \$0.001000") as info:
            guard.check(response="the response")
        assert info.value.response == "the response"
        assert info.value.used == pytest.approx(0.0035)


def test_unknown_model_recorded_under_usd_limit_makes_check_raise() -> None:
    with BudgetGuard(usd_limit=1.0) as guard:
        guard.record(LLMUsage("mystery-model", None, 10, 0, 0, 10))
        assert guard.tokens_used == 20
        with pytest.raises(UnknownModelPriceError, match="mystery-model"):
            guard.check()
    with BudgetGuard(token_limit=100) as guard:  # no usd limit: tokens still count, nothing to refuse
        guard.record(LLMUsage("mystery-model", None, 10, 0, 0, 10))
        guard.check()


def test_add_cost_in_the_active_guard() -> None:
    with pytest.raises(ConfigError, match="active BudgetGuard"):
        actguard.add_cost("search", 0.01)
    with BudgetGuard(usd_limit=0.05) as outer, BudgetGuard() as inner:
        actguard.add_cost("search", 0.02)
        with pytest.raises(BudgetExceededError) as info:
            inner.add_cost("search", 0.03)  # crosses the outer limit: recorded, then refused like an LLM call
        assert (info.value.limit, info.value.used) == (0.05, pytest.approx(0.05))
        with pytest.raises(BudgetExceededError):
            inner.check()
    assert inner.costs == {"search": pytest.approx(0.05)}
    assert outer.usd_used == pytest.approx(0.05)
    for bad in (-1, math.nan, math.inf, "1"):
        with pytest.raises(ConfigError, match="usd"):
            outer.add_cost("search", bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="name"):
        outer.add_cost("", 1)


def test_strict_token_limit_counts_prompt_and_max_output() -> None:
    with BudgetGuard(token_limit=1000, strict=True) as guard:
        guard.check_call("gpt-4o", prompt_tokens=400, max_output_tokens=600)  # exactly fits
        with pytest.raises(BudgetExceededError) as info:
            guard.check_call("gpt-4o", prompt_tokens=401, max_output_tokens=600)
    assert info.value.used == 1001


def test_many_threads_in_one_guard_sum_exactly() -> None:
    with BudgetGuard() as guard:
        barrier = threading.Barrier(8)

        def work(n: int) -> None:
            barrier.wait()
            for i in range(500):
                guard.record(GPT4O, call_id=f"{n}-{i}")
                guard.record(GPT4O, call_id=f"{n}-{i}")  # the same call seen by a second layer

        with actguard.ContextThreadPoolExecutor(8) as pool:
            list(pool.map(work, range(8)))
    assert guard.usage.calls == 4000
    assert guard.tokens_used == 4000 * 1100


async def test_many_tasks_in_one_guard_sum_exactly() -> None:
    async with BudgetGuard() as guard:

        async def work(n: int) -> None:
            for i in range(200):
                actguard.current_budget().record(GPT4O, call_id=f"{n}-{i}")  # type: ignore[union-attr]
                await asyncio.sleep(0)

        await asyncio.gather(*(work(n) for n in range(10)))
    assert guard.usage.calls == 2000


async def test_guards_in_concurrent_tasks_are_isolated() -> None:
    async def run(n: int) -> BudgetGuard:
        async with BudgetGuard(name=f"t{n}") as guard:
            for _ in range(n):
                actguard.current_budget().record(GPT4O)  # type: ignore[union-attr]
                await asyncio.sleep(0)
        return guard

    guards = await asyncio.gather(*(run(n) for n in range(1, 6)))
    assert [g.usage.calls for g in guards] == [1, 2, 3, 4, 5]


def test_guards_in_concurrent_threads_are_isolated() -> None:
    results: dict[int, int] = {}
    barrier = threading.Barrier(4)

    def run(n: int) -> None:
        with BudgetGuard() as guard:
            barrier.wait()
            for _ in range(n * 100):
                actguard.current_budget().record(GPT4O)  # type: ignore[union-attr]
        results[n] = guard.usage.calls

    threads = [threading.Thread(target=run, args=(n,)) for n in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {1: 100, 2: 200, 3: 300, 4: 400}


def test_a_thread_without_the_context_sees_no_guard() -> None:
    seen: list[BudgetGuard | None] = []
    with BudgetGuard():
        t = threading.Thread(target=lambda: seen.append(actguard.current_budget()))
        t.start()
        t.join()
    assert seen == [None]


def test_a_guard_left_from_another_context_leaves_cleanly_and_can_be_entered_again() -> None:
    """An async context manager closed by another task (a framework abandoning a stream) exits the guard from a context
    that did not enter it: no error, the entering context keeps it current until it ends, the guard is usable again."""
    import contextvars

    guard = BudgetGuard(token_limit=100)
    entering = contextvars.copy_context()
    entering.run(guard.__enter__)
    assert entering.run(actguard.current_budget) is guard and actguard.current_budget() is None
    guard.__exit__(None, None, None)  # here: another context than the one that entered it
    assert actguard.current_budget() is None
    with guard:  # entered again: it was left
        assert actguard.current_budget() is guard
    assert actguard.current_budget() is None


def test_shared_budget_spans_guards_and_windows(store: actguard.MemoryStore, clock: FakeClock) -> None:
    # two guards with the same key stand for two processes using one store
    first = BudgetGuard(user_id="alice", usd_limit=0.005, shared=True, window="1h")
    second = BudgetGuard(user_id="alice", usd_limit=0.005, shared=True, window="1h")
    other = BudgetGuard(user_id="bob", usd_limit=0.005, shared=True, window="1h")
    with first:
        first.record(GPT4O)  # $0.0035
        first.check()
    with second:
        second.check()
        second.record(GPT4O)  # the store now holds $0.007
        with pytest.raises(BudgetExceededError) as info:
            second.check()
    assert info.value.used == pytest.approx(0.007)
    assert second.usd_used == pytest.approx(0.0035)  # this guard's own share
    assert second.shared_usage().usd == pytest.approx(0.007)
    with other:
        other.check()  # another user's key
    with first, pytest.raises(BudgetExceededError):
        first.check()
    clock.advance(3601)  # the window is over
    with first:
        first.check()


def test_shared_budget_with_explicit_store() -> None:
    mem = actguard.MemoryStore()
    guard = BudgetGuard(name="team", token_limit=2000, shared=True, store=mem)
    with guard:
        guard.record(GPT4O)
    assert mem.spend_get("actguard:budget:team:").tokens == 1100


def test_prices_lookup_and_register() -> None:
    prices = actguard.prices
    assert prices.price_for("gpt-4o-2024-08-06") == prices.price_for("gpt-4o")
    assert prices.price_for("openai/gpt-4o").input_per_mtok == 2.5
    assert prices.price_for("models/gemini-2.5-flash", "google").output_per_mtok == 2.5
    assert prices.price_for("gemini-2.5-pro").tiers[0].above_input_tokens == 200_000
    with pytest.raises(UnknownModelPriceError, match=r"prices.register\('nope'"):
        prices.price_for("nope")
    with pytest.raises(ConfigError, match="input_per_mtok"):
        prices.register("x", input_per_mtok=-1, output_per_mtok=1)
    with pytest.raises(ConfigError, match="output_per_mtok"):
        prices.register("x", input_per_mtok=1, output_per_mtok=math.nan)
    prices.register("gpt-4o", input_per_mtok=1, output_per_mtok=1)  # overrides the bundled price
    try:
        assert prices.cost_of(GPT4O) == pytest.approx(0.0011)
    finally:
        prices.unregister("gpt-4o")
    assert prices.cost_of(GPT4O) == pytest.approx(0.0035)


def test_cached_prices_match_genai_prices() -> None:
    from genai_prices import Usage, calc_price

    cases = [
        ("gpt-4o", "openai", 1000, 400, 0, 200),
        ("claude-sonnet-4-5", "anthropic", 250_000, 1000, 2000, 50),
        ("claude-haiku-4-5", "anthropic", 5000, 1000, 2000, 50),
        ("gemini-2.5-pro", "google", 300_000, 10_000, 0, 1000),
        ("gemini-2.5-pro", "google", 100_000, 10_000, 0, 1000),
        ("o3-mini", None, 100, 0, 0, 10_000),
    ]
    for model, provider, inp, cached, written, out in cases:
        ours = actguard.prices.cost_of(LLMUsage(model, provider, inp, cached, written, out))
        theirs = calc_price(
            Usage(input_tokens=inp, cache_read_tokens=cached, cache_write_tokens=written, output_tokens=out),
            model,
            provider_id=provider,
        ).total_price
        assert ours == pytest.approx(float(theirs), rel=1e-12), model


_WORKER = """
import sys
import actguard
from actguard import BudgetGuard, LLMUsage

store = actguard.SQLiteStore(sys.argv[1])
usage = LLMUsage("gpt-4o", "openai", input_tokens=1000, output_tokens=100)
with BudgetGuard(user_id="alice", token_limit=10**9, shared=True, window="1d", store=store) as guard:
    for _ in range(50):
        guard.check()
        guard.record(usage)
store.close()
"""


def test_shared_budget_across_processes(tmp_path: Any) -> None:
    import subprocess
    import sys

    path = str(tmp_path / "spend.db")
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, path]) for _ in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    store = actguard.SQLiteStore(path)
    try:
        guard = BudgetGuard(user_id="alice", token_limit=165_000, shared=True, window="1d", store=store)
        assert guard.shared_usage().tokens == 3 * 50 * 1100
        with guard, pytest.raises(BudgetExceededError) as info:
            guard.check()  # this process spent nothing, but the user's shared budget is gone
        assert info.value.used == 165_000
    finally:
        store.close()
