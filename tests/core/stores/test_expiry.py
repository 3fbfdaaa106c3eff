"""Bounded state: every key a shared store writes expires by itself (Redis TTLs) or is swept (SQLite)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import actguard
from actguard.testing import FakeClock


def touch_everything(store: actguard.Store) -> None:
    """Write one key of every kind, each living at most 100 s (a circuit: reset_timeout + a day of idleness)."""
    store.hit_window("rl", 5, 100)
    store.breaker_record("cb", success=False, probe=False, max_fails=1, reset_timeout=100)
    store.incr("ct", 100)
    store.idem_claim("claimed", 100)
    store.idem_claim("done", 100)
    store.idem_complete("done", {"ok": True}, 100)
    store.idem_mark_unknown("unknown", 100)
    store.facts_add("ns", "order_id", ["o1", "o2"], 100)
    store.spend_add("day", 1.0, 10, 100)


def test_sqlite_sweep_leaves_nothing_once_everything_expired(tmp_path: Path) -> None:
    clock = FakeClock()
    store = actguard.SQLiteStore(tmp_path / "s.db", clock=clock)
    touch_everything(store)
    store.spend_add("forever", 1.0, 1, None)  # a budget without a window is kept on purpose
    db = sqlite3.connect(tmp_path / "s.db")

    def rows() -> dict[str, int]:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}

    clock.advance(100)
    store.sweep()
    assert {t: n for t, n in rows().items() if n} == {"breakers": 1, "spend": 1}  # an open circuit stays a while
    clock.advance(86_400)
    store.sweep()
    assert {t: n for t, n in rows().items() if n} == {"spend": 1}
    assert store.spend_get("forever").tokens == 1
    db.close()
    store.close()


def test_sqlite_sweeps_by_itself(tmp_path: Path) -> None:
    clock = FakeClock()
    store = actguard.SQLiteStore(tmp_path / "s.db", clock=clock, sweep_every=10)
    for i in range(5):
        store.hit_window(f"user-{i}", 5, 10)
    clock.advance(10)
    for _ in range(5):
        store.incr("c", 1000)
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("SELECT COUNT(*) FROM hits").fetchone()[0] == 0
    db.close()
    store.close()


def test_every_redis_key_has_a_ttl(redis_server: Any) -> None:
    import redis

    store = actguard.RedisStore(redis_server.url, prefix="ttl-check")
    touch_everything(store)
    client = redis.Redis.from_url(redis_server.url)
    keys = list(client.scan_iter(match="ttl-check:*"))
    assert len(keys) == 8  # one per logical key: rl, cb, ct, 3 claims, facts, spend
    for key in keys:
        ttl = client.pttl(key)
        limit = (100 + 86_400) * 1000 if b"{cb:" in key else 100 * 1000
        assert 0 < ttl <= limit, (key, ttl)
        slot_tag = key.decode().split("{", 1)[1].split("}", 1)[0]
        assert slot_tag.split(":", 1)[1] in {"rl", "cb", "ct", "claimed", "done", "unknown", "ns", "day"}
    client.close()
    store.close()
