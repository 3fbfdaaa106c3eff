"""Chain of custody on every store backend (memory, SQLite, Redis), sync and async: facts go through the Store
interface only, so the guarantees hold wherever the facts live."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import actguard
from actguard import GuardError, RequireFact, enforce, prove
from actguard.custody import forget
from actguard.testing import FakeClock

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stores"))
from redis_server import REQUIRE_ENV, RedisServer, missing_reason


@dataclass
class Backend:
    name: str
    store: actguard.Store
    advance: Callable[[float], None]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    reason = missing_reason()
    if reason is not None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    with RedisServer() as server:
        yield server.url


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    clock = FakeClock()
    store: actguard.Store
    if request.param == "memory":
        store = actguard.MemoryStore(clock=clock)
    elif request.param == "sqlite":
        store = actguard.SQLiteStore(tmp_path / "facts.db", clock=clock)
    else:
        store = actguard.RedisStore(request.getfixturevalue("redis_url"), prefix=f"c{uuid.uuid4().hex[:10]}")
        start = clock.wall()
        store._time_offset = lambda: clock.wall() - start  # server time follows the fake clock (test hook)
    actguard.set_default_store(store)
    yield Backend(request.param, store, clock.advance)
    actguard.set_default_store(None)
    await store.aclose()


def tools(kind: str = "order_id", ttl: float = 60) -> tuple[Any, Any, Any, Any]:
    @prove(kind=kind, extract="id", ttl=ttl)
    def read(ids: list[Any]) -> list[dict[str, Any]]:
        return [{"id": i} for i in ids]

    @enforce([RequireFact("target", kind)])
    def write(target: Any) -> str:
        return "done"

    @prove(kind=kind, extract="id", ttl=ttl)
    async def aread(ids: list[Any]) -> list[dict[str, Any]]:
        return [{"id": i} for i in ids]

    @enforce([RequireFact("target", kind)])
    async def awrite(target: Any) -> str:
        return "done"

    return read, write, aread, awrite


def ok(fn: Any, *args: Any) -> bool:
    try:
        fn(*args)
    except GuardError as exc:
        assert exc.code == "MISSING_FACT"
        return False
    return True


async def aok(fn: Any, *args: Any) -> bool:
    try:
        await fn(*args)
    except GuardError as exc:
        assert exc.code == "MISSING_FACT"
        return False
    return True


def test_prove_enforce_expiry_and_scopes(backend: Backend) -> None:
    read, write, _, _ = tools(ttl=60)
    with actguard.session("s1", {"user_id": "alice"}):
        assert not ok(write, "o1")
        read(["o1", 2, "x:1"])
        assert ok(write, "o1") and ok(write, ["o1", "2"]) and ok(write, 2) and ok(write, "x:1")
        assert not ok(write, ["o1", "o9"]) and not ok(write, 2.0) and not ok(write, True)
        assert not ok(tools("order_id:x")[1], "1")  # kind "order_id" + "x:1" is not kind "order_id:x" + "1"
    with actguard.session("s1", {"user_id": "bob"}):
        assert not ok(write, "o1")
    backend.advance(59)
    with actguard.session("s1", {"user_id": "alice"}) as sess:
        assert ok(write, "o1")
        backend.advance(1)
        assert not ok(write, "o1")
        read(["o1"])
        forget(sess)
        assert not ok(write, "o1")


async def test_async_tools(backend: Backend) -> None:
    _, write, aread, awrite = tools(ttl=60)
    async with actguard.session("s1", {"user_id": "alice"}):
        assert not await aok(awrite, "o1")
        await aread(["o1", 7])
        assert await aok(awrite, "o1") and await aok(awrite, "7") and ok(write, 7)
        assert not await aok(awrite, "o9")
    async with actguard.session("s1", {"user_id": "mallory"}):
        assert not await aok(awrite, "o1")
    backend.advance(60)
    async with actguard.session("s1", {"user_id": "alice"}):
        assert not await aok(awrite, "o1")


async def test_async_tools_use_the_async_store_operations(clock: FakeClock) -> None:
    calls: list[str] = []

    class Spy(actguard.MemoryStore):
        def facts_add(self, *args: Any) -> None:
            raise AssertionError("sync facts_add called from an async tool")

        def facts_missing(self, *args: Any) -> list[str]:
            raise AssertionError("sync facts_missing called from an async tool")

        async def afacts_add(self, namespace: str, kind: str, values: Any, ttl: float) -> None:
            calls.append("afacts_add")
            super().facts_add(namespace, kind, values, ttl)

        async def afacts_missing(self, namespace: str, kind: str, values: Any) -> list[str]:
            calls.append("afacts_missing")
            return super().facts_missing(namespace, kind, values)

    spy = Spy(clock=clock)

    @prove(kind="k", extract="id", store=spy)
    async def aread() -> dict[str, str]:
        return {"id": "o1"}

    @enforce([RequireFact("oid", "k")], store=spy)
    async def awrite(oid: str) -> str:
        return "done"

    async with actguard.session("s1"):
        await aread()
        assert await awrite("o1") == "done"
    assert calls == ["afacts_add", "afacts_missing"]
