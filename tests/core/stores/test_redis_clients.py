"""RedisStore with every kind of client: a URL, a sync client, an async client, both, decode_responses=True."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

import actguard


def test_url_store_serves_several_event_loops_and_closes_their_clients(redis_server: Any) -> None:
    store = actguard.RedisStore(redis_server.url, prefix="loops")

    async def hit() -> int:
        return (await store.ahit_window("k", 10, 60)).count

    assert [asyncio.run(hit()) for _ in range(3)] == [1, 2, 3]  # one async client per loop, closed with its loop
    gc.collect()
    assert not store._async_by_loop  # nothing kept for loops that are gone (and no unclosed-socket warnings)
    assert store.hit_window("k", 10, 60).count == 4
    store.close()


@pytest.mark.parametrize("decode", [False, True])
async def test_given_sync_client_serves_sync_and_async(redis_server: Any, decode: bool) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url, decode_responses=decode)
    store = actguard.RedisStore(client, prefix=f"sync{decode}")
    assert store.idem_claim("k", 60).status == "claimed"
    await store.aidem_complete("k", {"id": "in_1", "n": [1, 2]}, 60)  # async twin runs the sync client in a thread
    assert (await store.aidem_claim("k", 60)).result == {"id": "in_1", "n": [1, 2]}
    store.breaker_record("b", success=False, probe=False, max_fails=1, reset_timeout=60)
    assert (await store.abreaker_snapshot("b", 60)).state == "open"
    assert not (await store.ahit_window("w", 1, 60), store.hit_window("w", 1, 60))[1].allowed
    store.close()


async def test_given_async_client_serves_async_only(redis_server: Any) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
    store = actguard.RedisStore(client, prefix="async-only")
    assert (await store.aincr("c", 60), await store.aincr("c", 60)) == (1, 2)
    await store.afacts_add("ns", "order_id", ["o1"], 60)
    assert await store.afacts_missing("ns", "order_id", ["o1", "o2"]) == ["o2"]
    with pytest.raises(actguard.ConfigError, match="only an async client"):
        store.incr("c", 60)
    await store.aclose()


async def test_sync_and_async_clients_share_state(redis_server: Any) -> None:
    import redis
    import redis.asyncio

    store = actguard.RedisStore(
        redis.Redis.from_url(redis_server.url),
        async_client=redis.asyncio.Redis.from_url(redis_server.url),
        prefix="both",
    )
    store.spend_add("alice", 0.5, 5, None)
    totals = await store.aspend_add("alice", 0.25, 5, None)
    assert (totals.usd, totals.tokens) == (0.75, 10)
    await store.aclose()
