"""A Redis rate-limit check of actguard's RedisStore against limits' RedisStorage moving window and a raw PING.

Run: python benchmarks/stores.py   (needs redis-server on PATH and: pip install "actguard[redis]" limits)
Starts its own redis-server on a free port, then measures, in the same run and interleaved:

- ``PING``: one redis-py round trip doing nothing (the floor for any check that goes to Redis);
- ``actguard``: ``RedisStore.hit_window`` (one EVALSHA: sliding-window log, server time, exact);
- ``limits``: ``MovingWindowRateLimiter(RedisStorage).hit`` (the peer: moving window, also Lua).

Targets: actguard at most 1.5x PING, and faster than limits. Also prints SQLiteStore and MemoryStore for scale.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _peers import require

require("benchmarks/stores.py", {"redis": "redis", "limits": "limits[redis]"}, binaries=("redis-server",))

import redis  # noqa: E402
from limits import RateLimitItemPerMinute  # noqa: E402
from limits.storage import RedisStorage  # noqa: E402
from limits.strategies import MovingWindowRateLimiter  # noqa: E402

import actguard  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core" / "stores"))
from redis_server import RedisServer  # the tests' launcher: no persistence, free port  # noqa: E402

CALLS = 1_000
ROUNDS = 25
USERS = 1_000  # scope="user_id": each check hits one of many small per-user windows
LIMIT = 10**9  # every check admits: the full path (trim, count, add, expire)


def per_call(fn: Callable[[int], object]) -> float:
    start = time.perf_counter()
    for i in range(CALLS):
        fn(i)
    return (time.perf_counter() - start) / CALLS


def main() -> None:
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        store = actguard.RedisStore(server.url, prefix="bench")
        limiter = MovingWindowRateLimiter(RedisStorage(server.url))
        item = RateLimitItemPerMinute(LIMIT)
        tmp = tempfile.mkdtemp(prefix="actguard-bench-")
        sqlite = actguard.SQLiteStore(Path(tmp) / "bench.db")
        memory = actguard.MemoryStore()
        cases: dict[str, Callable[[int], object]] = {
            "PING": lambda i: client.ping(),
            "actguard RedisStore.hit_window": lambda i: store.hit_window(f"tool:{i % USERS}", LIMIT, 60),
            "limits RedisStorage moving window": lambda i: limiter.hit(item, "tool", str(i % USERS)),
            "actguard SQLiteStore.hit_window": lambda i: sqlite.hit_window(f"tool:{i % USERS}", LIMIT, 60),
            "actguard MemoryStore.hit_window": lambda i: memory.hit_window(f"tool:{i % USERS}", LIMIT, 60),
        }
        for fn in cases.values():  # warm up: connections, script loading
            per_call(fn)
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(ROUNDS):  # short interleaved rounds: load from other processes hits every case alike
            for name, fn in cases.items():
                samples[name].append(per_call(fn))
        sqlite.close()
        store.close()
        client.close()

    # The fastest round of each case: other load on the machine only ever adds time, so the minimum is the
    # steadiest estimate of the cost itself; the median is shown too.
    best = {name: min(values) for name, values in samples.items()}
    ping = best["PING"]
    print(f"{CALLS} calls x {ROUNDS} interleaved rounds over {USERS} per-user windows; per call: best round (median)")
    for name, value in best.items():
        median = statistics.median(samples[name])
        print(f"  {name:36s} {value * 1e6:8.1f} us ({median * 1e6:7.1f})   {value / ping:5.2f}x PING")
    ours, peer = best["actguard RedisStore.hit_window"], best["limits RedisStorage moving window"]
    print(f"actguard / PING   = {ours / ping:.2f}   (target <= 1.5)")
    print(f"actguard / limits = {ours / peer:.2f}   (target < 1.0)")


if __name__ == "__main__":
    main()
