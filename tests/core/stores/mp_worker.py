"""A worker process for the multi-process tests: ``python mp_worker.py sqlite <path>`` or ``... redis <url> <prefix>``.

Reads one JSON command per line on stdin, runs it with 8 threads through actguard's real guards on the shared
store, and answers one JSON line on stdout. Tools are defined at module level, so every worker process gives them
the same identity (``__main__.<name>``) and so the same store keys.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import actguard

THREADS = 8


@actguard.rate_limit(max_calls=5, period=3600, scope="bucket")
def limited(bucket: str) -> str:
    return "ok"


def effects_file() -> str:
    return os.environ["ACTGUARD_EFFECTS_FILE"]


@actguard.idempotent(ttl_s=600)
def create_invoice(amount: int, *, idempotency_key: str) -> dict[str, Any]:
    with open(effects_file(), "a") as fh:  # the side effect: one line per real execution, from any process
        fh.write(f"{os.getpid()} {idempotency_key}\n")
    return {"invoice": f"in-{os.getpid()}", "amount": amount}


@actguard.circuit_breaker(name="payments-db", max_fails=3, reset_timeout=3600)
def write_order(fail: bool) -> str:
    if fail:
        raise ConnectionError("payments-db unreachable")
    return "written"


@actguard.prove(kind="order_id", extract="id")
def list_orders(user_id: str) -> list[dict[str, str]]:
    return [{"id": f"{user_id}-o1"}, {"id": f"{user_id}-o2"}]


@actguard.enforce([actguard.RequireFact("order_id", "order_id")])
def refund_order(order_id: str) -> str:
    return f"refunded {order_id}"


def in_threads(fn: Callable[[int], Any]) -> list[Any]:
    """Run ``fn(i)`` in THREADS threads released together; return their results in order."""
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS

    def run(i: int) -> None:
        barrier.wait()
        results[i] = fn(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def rate(cmd: dict[str, Any]) -> dict[str, Any]:
    def attempt(_: int) -> int:
        admitted = 0
        for _ in range(cmd["calls"]):
            try:
                limited(cmd["bucket"])
                admitted += 1
            except actguard.RateLimitExceeded:
                pass
        return admitted

    return {"admitted": sum(in_threads(attempt))}


def idem(cmd: dict[str, Any]) -> dict[str, Any]:
    def attempt(_: int) -> Any:
        with actguard.RunContext(run_id=cmd["run_id"]):
            try:
                return create_invoice(5000, idempotency_key=cmd["key"])
            except actguard.IdempotencyInProgress:
                return "in_progress"

    return {"results": in_threads(attempt)}


def breaker(cmd: dict[str, Any]) -> dict[str, Any]:
    outcomes = []
    for _ in range(cmd["calls"]):
        try:
            outcomes.append(write_order(cmd["fail"]))
        except actguard.CircuitOpenError as exc:
            outcomes.append(f"open:{exc.failures}")
        except ConnectionError:
            outcomes.append("failed")
    return {"outcomes": outcomes}


def budget(cmd: dict[str, Any]) -> dict[str, Any]:
    """Each thread makes paid calls (check, then charge) until the shared budget refuses; returns the calls made."""

    def attempt(_: int) -> int:
        spent = 0
        with actguard.BudgetGuard(user_id=cmd["user"], usd_limit=cmd["usd_limit"], window="1d", shared=True) as guard:
            for call in range(cmd["calls"]):
                try:
                    guard.check()
                except actguard.BudgetExceededError:
                    break
                spent += 1
                try:
                    guard.add_cost(f"search-{call}", cmd["cost"])
                except actguard.BudgetExceededError:
                    break  # recorded, and the limit is reached
        return spent

    return {"calls": sum(in_threads(attempt))}


def llm(cmd: dict[str, Any]) -> dict[str, Any]:
    """Each thread, in its own per-request guard, makes LLM calls with a max output (check_call reserves the worst
    case, record settles the metered usage, anywhere from 1 token to the max) until the shared budget refuses."""

    def attempt(i: int) -> int:
        made = 0
        with actguard.BudgetGuard(
            user_id=cmd["user"], usd_limit=cmd.get("usd_limit"), token_limit=cmd.get("token_limit"), shared=True
        ) as guard:
            for call in range(cmd["calls"]):
                try:
                    guard.check_call(
                        "gpt-4o", provider="openai", prompt_tokens=cmd["prompt"], max_output_tokens=cmd["max"]
                    )
                except actguard.BudgetExceededError:
                    break
                output = 1 + (os.getpid() * 31 + i * 7 + call * 13) % cmd["max"]  # what the model happened to write
                usage = actguard.LLMUsage(
                    model="gpt-4o", provider="openai", input_tokens=cmd["prompt"], output_tokens=output
                )
                guard.record(usage, call_id=f"{os.getpid()}-{i}-{call}")
                made += 1
        return made

    return {"calls": sum(in_threads(attempt))}


def spent(cmd: dict[str, Any]) -> dict[str, Any]:
    """The shared spend of a user, as the store has it."""
    totals = actguard.get_default_store().spend_get(f"actguard:budget::{cmd['user']}")
    return {"usd": totals.usd, "tokens": totals.tokens}


def probe(cmd: dict[str, Any]) -> dict[str, Any]:
    """One guarded call: how did it go?"""
    try:
        limited(cmd["bucket"])
        return {"outcome": "ok"}
    except actguard.RateLimitExceeded:
        return {"outcome": "limited"}
    except actguard.StoreUnavailable as exc:
        return {"outcome": "unavailable", "cause": type(exc.cause).__name__}


def custody(cmd: dict[str, Any]) -> dict[str, Any]:
    """In one request's session (the same id and scope in every worker): read (prove) or write (enforce)."""
    with actguard.session(cmd["session"], {"user_id": cmd["user"]}):
        if cmd["action"] == "read":
            return {"ids": [o["id"] for o in list_orders(cmd["user"])]}
        try:
            return {"result": refund_order(cmd["order_id"])}
        except actguard.GuardError as exc:
            return {"refused": exc.code}


COMMANDS = {
    "llm": llm,
    "spent": spent,
    "rate": rate,
    "idem": idem,
    "breaker": breaker,
    "budget": budget,
    "probe": probe,
    "custody": custody,
}


def main() -> None:
    backend, target = sys.argv[1], sys.argv[2]
    if backend == "redis":
        store: actguard.Store = actguard.RedisStore(target, prefix=sys.argv[3])
    else:
        store = actguard.SQLiteStore(target, timeout=30)
    actguard.set_default_store(store)
    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            answer = COMMANDS[cmd["op"]](cmd)
        except Exception as exc:  # report, do not die: the test shows it
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)
    store.close()


if __name__ == "__main__":
    main()
