"""Per-call cost of chain-of-custody checks, against a bare call of the same function measured in the same run.

Run: python benchmarks/custody.py

Cases (in one session, on the default in-process MemoryStore, no event sink configured):

- ``bare``: the undecorated write tool;
- ``enforce(RequireFact)``: the same tool under ``@enforce([RequireFact("order_id", "order_id")])``, with a proven id
  (the allowed path: what every legitimate write pays);
- ``MemoryStore.facts_missing``: the one store operation that check makes, alone (the floor);
- ``prove (10 ids)``: a read tool minting ten ids per call, for scale.

Target: enforce with one RequireFact adds under 2 microseconds per call over the bare call.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import actguard

CALLS = 50_000
ROUNDS = 7


def per_call(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    for _ in range(CALLS):
        fn()
    return (time.perf_counter() - start) / CALLS


def main() -> None:
    store = actguard.MemoryStore()
    actguard.set_default_store(store)

    def delete_order(order_id: str) -> str:
        return order_id

    guarded = actguard.enforce([actguard.RequireFact("order_id", "order_id")])(delete_order)

    @actguard.prove(kind="order_id", extract="id")
    def list_orders(user_id: str) -> list[dict[str, str]]:
        return rows

    rows = [{"id": f"o{i}"} for i in range(10)]
    with actguard.session("bench", {"user_id": "alice"}) as sess:
        list_orders("alice")
        ns = sess.namespace
        ids = ["o1"]
        cases: dict[str, Callable[[], object]] = {
            "bare": lambda: delete_order("o1"),
            "enforce(RequireFact)": lambda: guarded("o1"),
            "MemoryStore.facts_missing": lambda: store.facts_missing(ns, "order_id", ids),
            "prove (10 ids)": lambda: list_orders("alice"),
        }
        for fn in cases.values():  # warm up
            for _ in range(2_000):
                fn()
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(ROUNDS):  # interleaved rounds: drift hits every case alike
            for name, fn in cases.items():
                samples[name].append(per_call(fn))

    # the fastest round: the least disturbed by other load on the machine (as timeit advises)
    best = {name: min(values) for name, values in samples.items()}
    median = {name: statistics.median(values) for name, values in samples.items()}
    bare = best["bare"]
    print(f"{CALLS} calls x {ROUNDS} interleaved rounds, per call: best round (median round)")
    for name, value in best.items():
        print(f"  {name:28s} {value * 1e6:7.3f} us ({median[name] * 1e6:7.3f})   {value / bare:6.2f}x bare")
    overhead = best["enforce(RequireFact)"] - bare
    print(f"enforce(RequireFact) / bare = {best['enforce(RequireFact)'] / bare:.2f}")
    print(f"enforce(RequireFact) overhead = {overhead * 1e6:.3f} us per call   (target < 2 us)")


if __name__ == "__main__":
    main()
