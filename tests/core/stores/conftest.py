"""Fixtures of the store contract suite: one ``backend`` per store (memory, SQLite, Redis) and a private redis-server.

Each backend comes with ``advance(seconds)``: memory and SQLite run on a FakeClock, Redis on server time moved
forward by a test-only offset, so expiry is tested without sleeping.
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

sys.path.insert(0, str(Path(__file__).parent))

from redis_server import REQUIRE_ENV, RedisServer, missing_reason


def require_redis() -> None:
    """Skip (or, with ACTGUARD_REQUIRE_REDIS=1, fail) when redis-server or redis-py is not installed."""
    reason = missing_reason()
    if reason is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


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


@dataclass
class Backend:
    name: str
    store: actguard.Store
    advance: Callable[[float], None]


def make_redis_store(url: str, clock: FakeClock | None = None, **kwargs: object) -> actguard.RedisStore:
    """A RedisStore with a fresh prefix; with ``clock``, server time follows the FakeClock's advances."""
    store = actguard.RedisStore(url, prefix=f"t{uuid.uuid4().hex[:12]}", **kwargs)  # type: ignore[arg-type]
    if clock is not None:
        start = clock.wall()
        store._time_offset = lambda: clock.wall() - start
    return store


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
