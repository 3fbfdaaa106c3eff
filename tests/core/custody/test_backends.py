"""Chain of custody on every store backend (memory, SQLite, Redis), sync and async: facts go through the Store
interface only, so the guarantees hold wherever the facts live."""

from __future__ import annotations

from typing import Any

from backends import Backend  # the `backend` fixture comes from tests/core/conftest.py

import actguard
from actguard import GuardError, RequireFact, enforce, prove
from actguard.custody import forget
from actguard.testing import FakeClock


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
