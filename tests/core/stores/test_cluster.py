"""RedisStore on a real Redis Cluster (three masters started by the test): every script runs on the node owning its
one key, and the keys of different logical objects spread over the slots."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

import actguard
from actguard.testing import FakeClock


@pytest.fixture(scope="module")
def cluster_nodes() -> Iterator[list[Any]]:
    from backends import require_redis
    from redis_server import REQUIRE_ENV, RedisServer

    require_redis()
    if shutil.which("redis-cli") is None:
        reason = "redis-cli not found on PATH: needed to form a test cluster (it ships with redis-server)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    nodes = [RedisServer(cluster=True) for _ in range(3)]
    try:
        for node in nodes:
            node.start()
        subprocess.run(  # waits until every node agrees on the slot map
            ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{n.port}" for n in nodes], "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield nodes
    finally:
        for node in nodes:
            node.__exit__()


async def test_store_works_on_a_cluster(cluster_nodes: list[Any]) -> None:
    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
    from redis.cluster import RedisCluster

    port = cluster_nodes[0].port
    client = RedisCluster(host="127.0.0.1", port=port)
    store = actguard.RedisStore(client, async_client=AsyncRedisCluster(host="127.0.0.1", port=port), prefix="fleet")
    clock = FakeClock()
    start = clock.wall()
    store._time_offset = lambda: clock.wall() - start

    for user in range(20):  # windows of 20 users, spread over the cluster
        assert store.hit_window(f"send_email:{user}", 1, 60).allowed
        assert not (await store.ahit_window(f"send_email:{user}", 1, 60)).allowed
    assert store.idem_claim("inv-42", 600).status == "claimed"
    await store.aidem_complete("inv-42", {"invoice": "in_1"}, 600)
    assert (await store.aidem_claim("inv-42", 600)).result == {"invoice": "in_1"}
    store.breaker_record("postgres", success=False, probe=False, max_fails=1, reset_timeout=30)
    assert not (await store.abreaker_acquire("postgres", 30)).allowed
    assert store.incr("run-1", 60) == 1
    await store.afacts_add("session-1", "order_id", ["o1"], 60)
    assert store.facts_missing("session-1", "order_id", ["o1", "o2"]) == ["o2"]
    assert (await store.aspend_add("alice", 0.5, 5, 86_400)).tokens == 5
    clock.advance(60)
    assert store.hit_window("send_email:0", 1, 60).allowed

    keys = client.keys("fleet:*", target_nodes=RedisCluster.ALL_NODES)
    assert len(keys) == 25  # 20 windows, a claim, a circuit, a counter, a fact set, a spend
    assert len({client.keyslot(k) for k in keys}) > 20  # one hash tag per logical key: spread, not piled on one node
    nodes_used = {client.get_node_from_key(k).port for k in keys}
    assert len(nodes_used) == 3
    await store.aclose()
