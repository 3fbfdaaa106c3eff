"""A Redis rate-limit check of actguard's RedisStore against limits' RedisStorage moving window and a raw PING.

Run: python benchmarks/stores.py   (needs redis-server on PATH and: pip install "actguard[redis]" limits)
Starts its own redis-server on a free port, then measures, in the same run and interleaved:

- ``PING``: one redis-py round trip doing nothing (what any one command costs an application using redis-py);
- ``PING, own connection``: the same on a thread's own connection, as actguard sends its scripts (a RedisStore built
  from a URL skips redis-py's per-command path and pooled check-out, see ``stores/_thread_connections.py``): the
  floor of a round trip, so it shows how much of a script's time is the script itself;
- ``actguard``: ``RedisStore.hit_window`` (one EVALSHA: sliding-window log, server time, exact);
- ``limits``: ``MovingWindowRateLimiter(RedisStorage).hit`` (the peer: moving window, also Lua).

- ``spend_reserve`` / ``spend_settle``: a shared budget's reservation before an LLM call and its settle after
  (one EVALSHA each), on per-user budget keys.

Targets: hit_window, spend_reserve and spend_settle each at most 1.5x PING, and hit_window faster than limits. Each
ratio pairs the two calls measured in the same round (median over rounds). Also prints SQLiteStore and MemoryStore
for scale. Install hiredis (``pip install hiredis``) for a faster reply parser and command packer on both sides.

Then a guarded LLM call's budget path (what the SDK meter runs per call: ``check_call`` before, ``record`` and
``check`` after) in a shared BudgetGuard on Redis and on SQLite, against the per-process BudgetGuard.
"""

from __future__ import annotations

import itertools
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
from actguard.stores._thread_connections import ThreadConnections  # noqa: E402

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
        own = ThreadConnections(client.connection_pool, redis.exceptions)
        store = actguard.RedisStore(server.url, prefix="bench")
        limiter = MovingWindowRateLimiter(RedisStorage(server.url))
        item = RateLimitItemPerMinute(LIMIT)
        tmp = tempfile.mkdtemp(prefix="actguard-bench-")
        sqlite = actguard.SQLiteStore(Path(tmp) / "bench.db")
        memory = actguard.MemoryStore()
        reserved, settled = itertools.count(), itertools.count()  # in lockstep: the i-th settle ends the i-th reserve

        def reserve(i: int) -> object:
            return store.spend_reserve(
                f"user:{i % USERS}",
                f"op{next(reserved)}",
                0.01,
                1_000,
                usd_limit=1e9,
                token_limit=None,
                ttl=None,
                lease=900,
            )

        def settle(i: int) -> object:
            return store.spend_settle(f"user:{i % USERS}", f"op{next(settled)}", 0.004, 400, None)

        cases: dict[str, Callable[[int], object]] = {
            "PING": lambda i: client.ping(),
            "PING, own connection": lambda i: own.execute(b"PING"),
            "actguard RedisStore.spend_reserve": reserve,
            "actguard RedisStore.spend_settle": settle,
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
        server_us = server_time(client, cases)
        llm = guarded_llm_calls(store, sqlite, client)
        sqlite.close()
        store.close()
        client.close()

    # Per call: the fastest round of each case, and its median. The ratios to PING pair each case with the PING
    # measured in the same round and take the median over rounds: a loopback round trip on an idle machine swings
    # between fast and slow states (CPU idle and wake-up latency, which other load can even shorten), so the fastest
    # PING round and the fastest script round may come from different states; a same-round pair never does.
    best = {name: min(values) for name, values in samples.items()}
    ratio = {name: paired_ratio(values, samples["PING"]) for name, values in samples.items()}
    print(f"{CALLS} calls x {ROUNDS} interleaved rounds over {USERS} per-user windows")
    print(f"  {'per call':36s} {'best':>8s}    {'median':>7s}    {'/ PING, same round (median)':s}")
    for name, value in best.items():
        median = statistics.median(samples[name])
        print(f"  {name:36s} {value * 1e6:8.1f} us {median * 1e6:7.1f} us   {ratio[name]:5.2f}x")
    hit = samples["actguard RedisStore.hit_window"]
    print(f"actguard / PING   = {ratio['actguard RedisStore.hit_window']:.2f}   (target <= 1.5)")
    print(f"actguard / limits = {paired_ratio(hit, samples['limits RedisStorage moving window']):.2f}   (target < 1.0)")
    print(f"spend_reserve / PING = {ratio['actguard RedisStore.spend_reserve']:.2f}   (target <= 1.5)")
    print(f"spend_settle / PING  = {ratio['actguard RedisStore.spend_settle']:.2f}   (target <= 1.5)")
    floor = samples["PING, own connection"]
    for name in ("spend_reserve", "spend_settle", "hit_window"):
        mine = paired_ratio(samples[f"actguard RedisStore.{name}"], floor)
        print(f"{name} / PING on its own connection = {mine:.2f}   (the script's share; no target)")
    print("time inside redis-server per call (INFO commandstats; steadier than round trips on a loaded machine):")
    for name, value in server_us.items():
        print(f"  {name:36s} {value:8.1f} us")
    print("guarded LLM call, budget path only (check_call + record + check); best round (median):")
    ping_rounds = llm.pop("PING")
    base = min(llm["per-process BudgetGuard"])
    for name, values in llm.items():
        value = min(values)
        print(f"  {name:36s} {value * 1e6:8.1f} us ({statistics.median(values) * 1e6:7.1f})   {value / base:6.1f}x")
    shared_redis = paired_ratio(llm["shared BudgetGuard on Redis"], ping_rounds)
    print(f"shared (Redis) / PING = {shared_redis:.2f}   (same round, median; two round trips: reserve, settle)")


def paired_ratio(case: list[float], base: list[float]) -> float:
    """The median over rounds of ``case / base`` measured in the same round."""
    return statistics.median(c / b for c, b in zip(case, base, strict=True))


def server_time(client: redis.Redis, cases: dict[str, Callable[[int], object]]) -> dict[str, float]:
    """Microseconds redis-server itself spends per call of each Redis case (the script or PING), from its stats."""
    out: dict[str, float] = {}
    for name, fn in cases.items():
        if not name.startswith("PING") and "RedisStore" not in name:
            continue
        client.config_resetstat()
        per_call(fn)
        stats = client.info("commandstats")
        command = "cmdstat_ping" if name.startswith("PING") else "cmdstat_evalsha"
        out[name] = float(stats[command]["usec_per_call"])
    return out


def guarded_llm_calls(
    redis_store: actguard.Store, sqlite_store: actguard.Store, client: redis.Redis
) -> dict[str, list[float]]:
    """The budget work one metered LLM call does, per-process and shared, and a PING; interleaved rounds."""
    usage = actguard.LLMUsage(model="gpt-4o", provider="openai", input_tokens=1_000, output_tokens=200)
    ids = itertools.count()
    guards = {
        "per-process BudgetGuard": lambda: actguard.BudgetGuard(user_id="u", usd_limit=1e9),
        "shared BudgetGuard on Redis": lambda: actguard.BudgetGuard(
            user_id="u", usd_limit=1e9, shared=True, store=redis_store
        ),
        "shared BudgetGuard on SQLite": lambda: actguard.BudgetGuard(
            user_id="u", usd_limit=1e9, shared=True, store=sqlite_store
        ),
    }
    samples: dict[str, list[float]] = {name: [] for name in [*guards, "PING"]}
    for round_ in range(ROUNDS + 1):
        if round_:
            samples["PING"].append(per_call(lambda i: client.ping()))
        for name, make in guards.items():
            with make() as guard:
                start = time.perf_counter()
                for _ in range(CALLS // 4):
                    guard.check_call("gpt-4o", provider="openai", prompt_tokens=1_000, max_output_tokens=500)
                    guard.record(usage, call_id=f"c{next(ids)}")
                    guard.check()
                if round_:  # the first round warms up
                    samples[name].append((time.perf_counter() - start) / (CALLS // 4))
    return samples


if __name__ == "__main__":
    main()
