"""The quickstart's tool-guard examples, as written (with the default store on a fake clock)."""

from __future__ import annotations

import pytest

import actguard


def test_runcontext_for_runtime_state_decorators(store: actguard.MemoryStore) -> None:
    from actguard import RunContext, max_attempts

    @max_attempts(calls=2)
    def lookup_customer(customer_id: str) -> dict:  # type: ignore[type-arg]
        ...

    with RunContext(run_id="req-123"):
        lookup_customer("cus_1")
        lookup_customer("cus_1")

    with RunContext(run_id="req-123"), pytest.raises(actguard.MaxAttemptsExceeded):
        lookup_customer("cus_1")  # one past the example: the run's third call is refused


def test_rate_limit_a_tool(store: actguard.MemoryStore, capsys: pytest.CaptureFixture[str]) -> None:
    from actguard import RateLimitExceeded, rate_limit

    @rate_limit(max_calls=5, period=60, scope="user_id")
    def send_email(user_id: str, subject: str) -> str: ...  # type: ignore[empty-body]

    try:
        send_email("alice", "Hello!")
    except RateLimitExceeded as e:
        print(f"Slow down, retry in {e.retry_after:.0f}s")

    for _ in range(4):
        send_email("alice", "Hello!")
    try:
        send_email("alice", "Hello!")
    except RateLimitExceeded as e:
        print(f"Slow down, retry in {e.retry_after:.0f}s")
    send_email("bob", "Hello!")  # each distinct user_id gets its own counter
    assert capsys.readouterr().out == "Slow down, retry in 60s\n"


def test_circuit_break_a_tool(store: actguard.MemoryStore, capsys: pytest.CaptureFixture[str]) -> None:
    from actguard import CircuitOpenError, circuit_breaker

    @circuit_breaker(name="postgres", max_fails=3, reset_timeout=60)
    def write_order(order_id: str) -> None: ...

    try:
        write_order("ord_123")
    except CircuitOpenError as e:
        print(f"{e.dependency_name} open; retry in {e.retry_after:.1f}s")

    @circuit_breaker(name="postgres", max_fails=3, reset_timeout=60)
    def write_order_down(order_id: str) -> None:
        raise ConnectionError("postgres is down")

    for _ in range(3):
        with pytest.raises(ConnectionError):
            write_order_down("ord_123")
    try:
        write_order("ord_123")  # shares the "postgres" circuit, now open
    except CircuitOpenError as e:
        print(f"{e.dependency_name} open; retry in {e.retry_after:.1f}s")
    assert capsys.readouterr().out == "postgres open; retry in 60.0s\n"


def test_time_bound_a_tool(capsys: pytest.CaptureFixture[str]) -> None:
    from actguard import ToolTimeoutError, timeout

    @timeout(1.5)
    def call_slow_dependency() -> str: ...  # type: ignore[empty-body]

    try:
        call_slow_dependency()
    except ToolTimeoutError as e:
        print(f"{e.tool_name} exceeded {e.timeout_s}s")
    assert capsys.readouterr().out == ""


def test_deduplicate_with_idempotency_keys(store: actguard.MemoryStore) -> None:
    from actguard import RunContext, idempotent

    calls: list[str] = []

    @idempotent(ttl_s=600)
    def create_invoice(user_id: str, amount_cents: int, *, idempotency_key: str) -> str:
        calls.append(idempotency_key)
        return "inv_1"

    with RunContext():
        invoice_id = create_invoice("alice", 5000, idempotency_key="inv-42")
        same_invoice_id = create_invoice("alice", 5000, idempotency_key="inv-42")
    assert invoice_id == same_invoice_id == "inv_1" and calls == ["inv-42"]


def test_combine_guards_with_actguard_tool(store: actguard.MemoryStore) -> None:
    import actguard
    from actguard import RunContext

    @actguard.tool(
        idempotent={"ttl_s": 600, "on_duplicate": "return"},
        max_attempts={"calls": 3},
        rate_limit={"max_calls": 10, "period": 60, "scope": "user_id"},
        circuit_breaker={"name": "search_api", "max_fails": 3, "reset_timeout": 60},
        timeout=2.0,
    )
    def search_web(user_id: str, query: str, *, idempotency_key: str) -> str: ...  # type: ignore[empty-body]

    with RunContext():
        search_web("alice", "latest earnings", idempotency_key="req-1")
