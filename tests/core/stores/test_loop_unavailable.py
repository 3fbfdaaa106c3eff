"""loop_guard when its store cannot be reached: it fails closed (the tool does not run) even on a fail_open store,
and picks up again once the store is back."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import actguard
from actguard.testing import FakeClock


async def test_redis_stopped_mid_run_fails_closed_then_recovers(own_redis_server: Any) -> None:
    server = own_redis_server
    store = actguard.RedisStore(server.url, prefix="loops", fail_open=True)  # fail_open covers rate limits only
    ran: list[str] = []

    @actguard.loop_guard(max_repeats=1, store=store)
    def search(query: str) -> str:
        ran.append(query)
        return query

    @actguard.loop_guard(max_repeats=1, store=store)
    async def asearch(query: str) -> str:
        ran.append(query)
        return query

    with actguard.RunContext(run_id="r1"):
        search("a")
        server.stop()
        with pytest.raises(actguard.StoreUnavailable) as info:
            search("b")
        assert info.value.operation == "loop_observe"
        with pytest.raises(actguard.StoreUnavailable):
            await asearch("c")
        assert ran == ["a"]  # nothing ran while the store was away
        server.start()  # a fresh server: the run's record is gone with the old one
        search("a")
        with pytest.raises(actguard.LoopDetected):
            search("a")
    assert ran == ["a", "a"]
    await store.aclose()


def test_sqlite_write_lock_held_by_another_process_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "loops.db"
    store = actguard.SQLiteStore(path, timeout=0.01, clock=FakeClock())
    ran: list[int] = []

    @actguard.loop_guard(max_repeats=1, store=store)
    def tool(x: int) -> None:
        ran.append(x)

    with actguard.RunContext():
        tool(1)
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(actguard.StoreUnavailable) as info:
                tool(2)
            assert isinstance(info.value.cause, sqlite3.OperationalError)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        tool(2)
        with pytest.raises(actguard.LoopDetected):
            tool(1)
    assert ran == [1, 2]
    store.close()
