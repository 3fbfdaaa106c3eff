"""Shared budgets under store faults: they fail closed on spend they could not write, and lose none of it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import actguard
from actguard.budget import _shared

KEY = "actguard:budget::alice"


def test_write_locked_sqlite_fails_closed_on_parked_spend(tmp_path: Path) -> None:
    path = tmp_path / "budget.db"
    store = actguard.SQLiteStore(path, timeout=0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock: no spend can be written
    made = 0
    try:
        with actguard.BudgetGuard(user_id="alice", usd_limit=1.0, shared=True, store=store) as guard:
            for _ in range(4):
                try:
                    guard.check()  # reads still work under WAL; the spend parked here counts
                    made += 1
                    guard.add_cost("search", 0.75)
                except actguard.BudgetExceededError:
                    continue
            assert store.spend_get(KEY).usd == 0.0  # nothing reached the database yet
            assert guard.shared_usage().usd == 1.5
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert made == 2  # the second cost crossed $1 and was refused after recording; no third call
    later = actguard.BudgetGuard(user_id="alice", usd_limit=1.0, shared=True, store=store)
    with later, pytest.raises(actguard.BudgetExceededError) as info:
        later.check()  # the lock is gone: the parked $1.50 is written first, exactly once
    assert info.value.used == 1.5
    assert store.spend_get(KEY).usd == 1.5
    assert len(_shared.OUTBOX) == 0
    store.close()


def test_spend_parked_while_redis_is_down_outlives_its_guard(own_redis_server: Any) -> None:
    server = own_redis_server
    store = actguard.RedisStore(server.url, prefix="outbox", timeout=0.5)
    with actguard.BudgetGuard(user_id="alice", usd_limit=2.0, shared=True, window="1d", store=store) as first:
        first.add_cost("search", 0.25)
    server.stop()
    with actguard.BudgetGuard(user_id="alice", usd_limit=2.0, shared=True, window="1d", store=store) as request:
        request.add_cost("search", 0.5)  # the spend happened: parked, not raised
        with pytest.raises(actguard.StoreUnavailable):
            request.check()  # fail closed while the shared spend cannot be read
    # the per-request guard is gone; the process-wide outbox still holds its $0.50
    server.start()  # a fresh, empty server: only what actguard kept can arrive
    with actguard.BudgetGuard(user_id="alice", usd_limit=2.0, shared=True, window="1d", store=store) as later:
        assert later.shared_usage().usd == 0.5
    assert store.spend_get(KEY).usd == 0.5
    assert len(_shared.OUTBOX) == 0
    store.close()


def test_spend_undeliverable_at_exit_is_reported_with_its_amount(needs_redis: None) -> None:
    from redis_server import free_port

    code = f"""
import actguard
from actguard.reporting import add_sink
add_sink(lambda e: print("event", e["name"], e["outcome"], e["payload"]["usd"], e["payload"]["tokens"])
         if e["name"] == "spend_undelivered" else None)
store = actguard.RedisStore("redis://127.0.0.1:{free_port()}/0")  # nothing listens there
with actguard.BudgetGuard(user_id="alice", usd_limit=5.0, shared=True, store=store) as guard:
    guard.add_cost("search", 0.5)
    guard.add_cost("crawl", 0.25)
print("exiting")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["exiting", "event spend_undelivered lost 0.75 0"]
    assert "ActGuardWarning: actguard could not deliver $0.750000 and 0 tokens" in done.stderr
    assert "actguard:budget::alice" in done.stderr


def test_the_outbox_is_bounded_and_reports_what_it_drops(tmp_path: Path) -> None:
    store = actguard.SQLiteStore(tmp_path / "x.db")
    outbox = _shared.Outbox(max_entries=2)
    for n in range(2):
        outbox.park(_shared.ParkedSpend(store, KEY, f"op{n}", 0.25, 10, None))
    with pytest.warns(actguard.ActGuardWarning, match=r"\$0\.250000 and 10 tokens .*outbox .* is full"):
        outbox.park(_shared.ParkedSpend(store, KEY, "op2", 0.25, 10, None))  # the oldest is dropped, and said so
    assert len(outbox) == 2
    assert outbox.parked(store, KEY) == (0.5, 20)
    assert outbox.flush(store)
    assert store.spend_get(KEY) == actguard.stores.SpendTotals(0.5, 20)
    store.close()
