"""Per-call cost of ``loop_guard`` against a bare call and against ``max_attempts``, measured in the same run.

Run: python benchmarks/loop_guard.py

The tool is ``search(query: str, limit: int = 10)``, called N times per run (one RunContext per round) with a new
query each call (so nothing is refused) in three spellings: positional, keyword, and with the default spelled out.
Each figure is a round's time per call minus the bare round's (best of several interleaved rounds), in
microseconds, on the default in-process MemoryStore with no event sink (reporting off).

- loop_guard(max_repeats=2) (cycle detection on, max_cycle=3): one key of the bound arguments plus one store
  operation per call.
- loop_guard(max_repeats=2, max_cycle=0): repeats only.
- max_attempts(calls=10**9): one store counter per call; the peer.  Target: loop_guard / max_attempts <= 1.

The same pair inside ``actguard.tool(...)`` next to a circuit breaker (loop_guard then wraps the breaker's wrapper,
not the function): each one's cost is its round minus the round of ``tool(circuit_breaker=...)`` alone.
Target: the same ratio, <= 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import actguard

N = 2_000
ROUNDS = 60
QUERIES = [f"query number {i}" for i in range(N)]


def search(query: str, limit: int = 10) -> str:
    return query


def round_of(fn: Callable[..., Any]) -> Callable[[], None]:
    third = N // 3

    def run() -> None:
        with actguard.RunContext():
            for q in QUERIES[:third]:
                fn(q)
            for q in QUERIES[third : 2 * third]:
                fn(query=q)
            for q in QUERIES[2 * third :]:
                fn(q, limit=10)

    return run


def composed(**guard: Any) -> Callable[..., Any]:
    """``search`` under ``tool()`` with a circuit breaker and ``guard`` (none: the breaker alone)."""
    return actguard.tool(circuit_breaker={"name": "search_api"}, **guard)(search)


def main() -> None:
    candidates = {
        "bare": round_of(search),
        "max_attempts": round_of(actguard.max_attempts(calls=10**9)(search)),
        "loop_guard": round_of(actguard.loop_guard(max_repeats=2)(search)),
        "loop_guard (no cycles)": round_of(actguard.loop_guard(max_repeats=2, max_cycle=0)(search)),
        "tool(circuit_breaker)": round_of(composed()),
        "tool(.., max_attempts)": round_of(composed(max_attempts=10**9)),
        "tool(.., loop_guard)": round_of(composed(loop_guard=2)),
    }
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(ROUNDS):
        for name, run in candidates.items():
            start = time.perf_counter_ns()
            run()
            best[name] = min(best[name], (time.perf_counter_ns() - start) / N / 1000)
    over = {name: best[name] - best["bare"] for name in candidates if name != "bare"}
    print(f"bare call                 {best['bare']:7.3f} us/call")
    for name, value in over.items():
        print(f"{name:<25} {value:7.3f} us/call overhead")
    ratio = over["loop_guard"] / over["max_attempts"]
    print(f"\nloop_guard / max_attempts = {ratio:.2f}   target: <= 1.00 -> {'met' if ratio <= 1 else 'MISSED'}")
    print(f"loop_guard (no cycles) / max_attempts = {over['loop_guard (no cycles)'] / over['max_attempts']:.2f}")
    breaker = over["tool(circuit_breaker)"]
    added = (over["tool(.., loop_guard)"] - breaker) / (over["tool(.., max_attempts)"] - breaker)
    print(f"in tool() with a circuit breaker: loop_guard / max_attempts = {added:.2f}   target: <= 1.00 -> ", end="")
    print("met" if added <= 1 else "MISSED")


if __name__ == "__main__":
    main()
