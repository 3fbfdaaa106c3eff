"""A tour of actguard's tool guards, offline: no network, no API key, about a second.

Run: python examples/tool_guards.py

Each section decorates a small tool, calls it the way an agent loop would, and prints what the guard decided.
Guard state lives in an in-process MemoryStore on a fake clock, so "a minute later" takes no time at all.
"""

from __future__ import annotations

import time

import actguard
from actguard import (
    CircuitOpenError,
    IdempotencyOutcomeUnknown,
    MaxAttemptsExceeded,
    RateLimitExceeded,
    RunContext,
    ToolGuardError,
    ToolTimeoutError,
)
from actguard.testing import FakeClock

clock = FakeClock()
actguard.set_default_store(actguard.MemoryStore(clock=clock))


def section(title: str) -> None:
    print(f"\n== {title}")


def rate_limit_tour() -> None:
    section("rate_limit: 2 emails per user per minute")

    @actguard.rate_limit(max_calls=2, period=60, scope="user_id")
    def send_email(user_id: str, subject: str) -> str:
        return f"sent {subject!r} to {user_id}"

    for user, subject in [("alice", "hi"), ("alice", "again"), ("alice", "third"), ("bob", "hi")]:
        try:
            print(" ", send_email(user, subject))
        except RateLimitExceeded as e:
            print(f"  refused: {e}")
            print(f"  the model would read: {e.to_prompt()!r}")
    clock.advance(60)
    print("  (a minute later)", send_email("alice", "third"))


def circuit_breaker_tour() -> None:
    section("circuit_breaker: 'postgres' opens after 3 connection failures")
    healthy = [False]

    @actguard.circuit_breaker(name="postgres", max_fails=3, reset_timeout=30)
    def write_order(order_id: str) -> str:
        if not healthy[0]:
            raise ConnectionError("connection refused")
        return f"wrote {order_id}"

    @actguard.circuit_breaker(name="postgres", max_fails=3, reset_timeout=30)
    def read_order(order_id: str) -> str:
        return f"read {order_id}"

    for i in range(4):
        try:
            write_order(f"ord_{i}")
        except ConnectionError as e:
            print(f"  attempt {i}: {e} (counted)")
        except CircuitOpenError as e:
            print(f"  attempt {i}: {e.dependency_name} open, fails fast; retry in {e.retry_after:.0f}s")
    try:
        read_order("ord_1")
    except CircuitOpenError:
        print("  read_order shares the 'postgres' circuit: refused too")
    clock.advance(30)
    healthy[0] = True
    print("  (30 s later, one probe goes through)", write_order("ord_9"), "-> circuit closed")
    print(" ", read_order("ord_9"))


def timeout_tour() -> None:
    section("timeout: a tool that hangs is abandoned after 0.2 s")

    @actguard.timeout(0.2)
    def call_slow_dependency() -> str:
        time.sleep(1)  # runs on in its own daemon thread after the timeout; its result is discarded
        return "too late"

    try:
        call_slow_dependency()
    except ToolTimeoutError as e:
        print(f"  {e.tool_name} exceeded {e.timeout_s}s")


def run_scoped_tour() -> None:
    section("max_attempts and idempotent: state per run")

    @actguard.max_attempts(calls=2)
    def lookup_customer(customer_id: str) -> dict[str, str]:
        return {"id": customer_id}

    invoices: list[str] = []

    @actguard.idempotent(ttl_s=600)
    def create_invoice(user_id: str, amount_cents: int, *, idempotency_key: str) -> str:
        invoices.append(idempotency_key)
        return f"inv_{len(invoices)}"

    with RunContext(run_id="req-123"):
        for _ in range(3):
            try:
                print("  lookup_customer ->", lookup_customer("cus_1"))
            except MaxAttemptsExceeded as e:
                print(f"  refused: {e}")
        first = create_invoice("alice", 5000, idempotency_key="inv-42")
        again = create_invoice("alice", 5000, idempotency_key="inv-42")
        print(f"  create_invoice twice with one key -> {first}, {again}; invoices created: {len(invoices)}")
    with RunContext(run_id="req-124"):
        print("  a new run gets fresh attempts:", lookup_customer("cus_1"))
    try:
        lookup_customer("cus_1")
    except actguard.MissingRuntimeContextError as e:
        print(f"  outside a run: {e}")


def tool_tour() -> None:
    section("tool(): every guard in one declaration")
    calls: list[str] = []

    @actguard.tool(
        idempotent={"ttl_s": 600, "on_duplicate": "return"},
        max_attempts={"calls": 3},
        rate_limit={"max_calls": 10, "period": 60, "scope": "user_id"},
        circuit_breaker={"name": "search_api", "max_fails": 3, "reset_timeout": 60},
        timeout=2.0,
    )
    def search_web(user_id: str, query: str, *, idempotency_key: str) -> str:
        """Search the web for ``query``."""
        calls.append(query)
        if query == "flaky":
            raise TimeoutError("upstream timed out")  # the tool's own error: its outcome is unknown
        return f"results for {query!r}"

    with RunContext():
        for query, key in [("earnings", "req-1"), ("earnings", "req-1"), ("flaky", "req-2"), ("flaky", "req-2")]:
            try:
                print(f"  {query} [{key}] ->", search_web("alice", query, idempotency_key=key))
            except IdempotencyOutcomeUnknown as e:
                print(f"  {query} [{key}] -> refused: {e.to_prompt()}")
            except ToolGuardError as e:
                print(f"  {query} [{key}] -> refused: {e}")
            except TimeoutError as e:
                print(f"  {query} [{key}] -> failed: {e}")
        try:
            search_web("alice", "more", idempotency_key="req-3")
            search_web("alice", "more", idempotency_key="req-4")
        except MaxAttemptsExceeded as e:
            print(f"  refused: {e}")
    print(f"  the function ran {len(calls)} times: {calls}")
    print(f"  name and docstring kept for tool schemas: {search_web.__name__}: {search_web.__doc__}")


def main() -> None:
    rate_limit_tour()
    circuit_breaker_tour()
    timeout_tour()
    run_scoped_tour()
    tool_tour()


if __name__ == "__main__":
    main()
