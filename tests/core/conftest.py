"""Fixtures shared by the core suite: every store backend (memory, SQLite, a real Redis) and private redis-servers.

Each backend comes with ``advance(seconds)``: memory and SQLite run on a FakeClock, Redis on server time moved
forward by a test-only offset, so expiry is tested without sleeping. The redis-server helper lives in
``tests/core/stores/redis_server.py`` (the store benchmark uses it too).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "stores"))

from backends import Backend, make_redis_store, require_redis
from redis_server import RedisServer

import actguard
from actguard.testing import FakeClock


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server shared by the session's tests (each test uses its own key prefix)."""
    require_redis()
    with RedisServer() as server:
        yield server


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A redis-server for one test alone (which may stop and restart it)."""
    require_redis()
    with RedisServer() as server:
        yield server


@pytest.fixture
def needs_redis() -> None:
    """For tests that use redis-py without a server."""
    require_redis()


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Every store, on a clock the test can move forward, installed as the default store."""
    clock = FakeClock()
    store: actguard.Store
    if request.param == "memory":
        store = actguard.MemoryStore(clock=clock)
    elif request.param == "sqlite":
        store = actguard.SQLiteStore(tmp_path / "actguard.db", clock=clock)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        store = make_redis_store(server.url, clock)
    actguard.set_default_store(store)  # guards without store= use it too
    yield Backend(request.param, store, clock.advance)
    actguard.set_default_store(None)
    await store.aclose()


@pytest.fixture(autouse=True)
def _no_parked_spend_between_tests() -> Iterator[None]:
    """Shared-budget spend a test parked (store down) must not reach the next test's checks."""
    yield
    from actguard.budget import _shared

    _shared.OUTBOX.clear()
