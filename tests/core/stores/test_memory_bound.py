"""MemoryStore(max_keys=...): every per-key table stays within max_keys, evicting its oldest keys first.

Each table is driven through the public API with a new key per write, then read directly: its size, and that what
it holds is the newest keys in write order (so the evicted ones were the oldest). Nothing expires (a fake clock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from actguard.stores.memory import MemoryStore
from actguard.testing import FakeClock


@dataclass(frozen=True)
class Table:
    """How to add the i-th new key to one of the store's tables, where that table is, and how it names key i."""

    write: Callable[[MemoryStore, int], object]
    table: Callable[[MemoryStore], dict[Any, Any]]
    name: Callable[[int], Any] = lambda i: f"k{i}"


TABLES = {
    "windows": Table(lambda s, i: s.hit_window(f"k{i}", 1, 60), lambda s: s._windows),
    "window_expiry": Table(lambda s, i: s.hit_window(f"k{i}", 1, 60), lambda s: s._window_expiry),
    "breakers": Table(
        lambda s, i: s.breaker_record(f"k{i}", success=False, probe=False, max_fails=3, reset_timeout=60),
        lambda s: s._breakers,
    ),
    "counters": Table(lambda s, i: s.incr(f"k{i}", 60), lambda s: s._counters),
    "claims": Table(lambda s, i: s.idem_claim(f"k{i}", 60), lambda s: s._claims),
    "fact namespaces": Table(lambda s, i: s.facts_add(f"k{i}", "order", ["o1"], 60), lambda s: s._facts),
    "facts of a namespace": Table(
        lambda s, i: s.facts_add("ns", "order", [f"k{i}"], 60), lambda s: s._facts["ns"], lambda i: ("order", f"k{i}")
    ),
    "spend": Table(lambda s, i: s.spend_add(f"k{i}", 0.5, 1, 60), lambda s: s._spend),
    "reserved": Table(
        lambda s, i: s.spend_reserve(f"k{i}", "op", 0.5, 1, usd_limit=None, token_limit=None, ttl=60, lease=60),
        lambda s: s._reserved,
    ),
    "loop runs": Table(lambda s, i: s.loop_observe(f"k{i}", "call", 4, 60), lambda s: s._loops),
    "calls of a loop run": Table(lambda s, i: s.loop_observe("run", f"k{i}", 4, 60), lambda s: s._loops["run"][1]),
}
MAX_KEYS = [1, 2, 7, 8, 16, 100]


@pytest.mark.parametrize("max_keys", MAX_KEYS)
@pytest.mark.parametrize("kind", TABLES)
def test_a_table_never_holds_more_than_max_keys(kind: str, max_keys: int) -> None:
    spec, store = TABLES[kind], MemoryStore(FakeClock(), max_keys=max_keys)
    for i in range(5 * max_keys + 3):
        spec.write(store, i)
        size = len(spec.table(store))
        assert size <= max_keys, f"{kind}: {size} keys after write {i}, max_keys={max_keys}"
        if i < max_keys:
            assert size == i + 1  # below the cap nothing is evicted


@pytest.mark.parametrize("max_keys", MAX_KEYS)
@pytest.mark.parametrize("kind", TABLES)
def test_a_full_table_keeps_the_newest_keys_and_evicted_the_oldest(kind: str, max_keys: int) -> None:
    spec, store = TABLES[kind], MemoryStore(FakeClock(), max_keys=max_keys)
    writes = 5 * max_keys + 3
    for i in range(writes):
        spec.write(store, i)
        held = list(spec.table(store))
        assert held == [spec.name(j) for j in range(i + 1 - len(held), i + 1)], f"{kind}: not the newest keys"
        assert len(held) >= min(i + 1, max_keys - max_keys // 8), f"{kind}: evicted more than an eighth"


@pytest.mark.parametrize("max_keys", MAX_KEYS)
def test_rate_windows_and_their_expiry_are_evicted_together(max_keys: int) -> None:
    store = MemoryStore(FakeClock(), max_keys=max_keys)
    for i in range(5 * max_keys + 3):
        store.hit_window(f"k{i}", 1, 60)
        assert list(store._window_expiry) == list(store._windows)


def test_a_full_store_still_refuses_its_newest_rate_limit_keys_and_forgot_the_oldest() -> None:
    store = MemoryStore(FakeClock(), max_keys=64)
    for i in range(1_000):
        assert store.hit_window(f"user-{i}", 1, 60).allowed
    newest = [f"user-{i}" for i in range(1_000 - (64 - 64 // 8), 1_000)]
    assert not any(store.hit_window(key, 1, 60).allowed for key in newest)  # their windows are remembered
    assert store.hit_window("user-0", 1, 60).allowed  # the oldest was evicted: a fresh window


@pytest.mark.parametrize("finish", ["complete", "mark_unknown"])
def test_finishing_an_evicted_claim_keeps_the_claims_within_max_keys(finish: str) -> None:
    store = MemoryStore(FakeClock(), max_keys=4)
    for i in range(40):  # each claim finishes only after more new claims than max_keys: it was evicted by then
        store.idem_claim(f"k{i}", 60)
        if i >= 8:
            if finish == "complete":
                store.idem_complete(f"k{i - 8}", "result", 60)
            else:
                store.idem_mark_unknown(f"k{i - 8}", 60)
        assert len(store._claims) <= 4
    assert f"k{39 - 8}" in store._claims  # the newest finished claim is kept


def test_facts_added_past_max_keys_in_one_call_keep_the_newest() -> None:
    store = MemoryStore(FakeClock(), max_keys=8)
    store.facts_add("ns", "order", [f"o{i}" for i in range(20)], 60)
    assert len(store._facts["ns"]) <= 8
    assert store.facts_missing("ns", "order", ["o19", "o0"]) == ["o0"]
