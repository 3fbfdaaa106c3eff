"""A ``backend`` fixture for running guard scenarios against every store: memory, SQLite and a real Redis.

The redis-server helper is shared with the store contract suite (``tests/core/stores/redis_server.py``). Memory and
SQLite run on a FakeClock; Redis follows it through the store's test-only server-time offset, so nothing sleeps.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import actguard
from actguard.testing import FakeClock

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stores"))

from redis_server import REQUIRE_ENV, RedisServer, missing_reason


@dataclass
class Backend:
    name: str
    store: actguard.Store
    advance: Callable[[float], None]


@pytest.fixture(scope="session")
def guards_redis_server() -> Iterator[RedisServer]:
    reason = missing_reason()
    if reason is not None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    with RedisServer() as server:
        yield server


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each store on a clock the test moves, installed as the default store (guards without store= use it)."""
    clock = FakeClock()
    store: actguard.Store
    if request.param == "memory":
        store = actguard.MemoryStore(clock=clock)
    elif request.param == "sqlite":
        store = actguard.SQLiteStore(tmp_path / "guards.db", clock=clock)
    else:
        server: RedisServer = request.getfixturevalue("guards_redis_server")
        redis_store = actguard.RedisStore(server.url, prefix=f"g{uuid.uuid4().hex[:12]}")
        start = clock.wall()
        redis_store._time_offset = lambda: clock.wall() - start  # type: ignore[method-assign]
        store = redis_store
    actguard.set_default_store(store)
    yield Backend(request.param, store, clock.advance)
    actguard.set_default_store(None)
    await store.aclose()
