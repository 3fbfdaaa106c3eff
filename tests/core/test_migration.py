"""Code written for actguard 0.1.15 keeps working where that costs nothing and weakens no safety (docs/MIGRATING.md).

Each test is one 0.1.15 spelling from the migration guide, used as 0.1.15 code used it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import actguard
from actguard import reporting
from actguard.testing import FakeClock


@pytest.fixture(autouse=True)
def _no_configuration() -> object:
    yield
    actguard.configure(None)


# -- configure(keyword=...) ---------------------------------------------------------------------------------------
def test_configure_takes_the_events_file_as_a_keyword(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    config = actguard.configure(events_file=str(path), agent_id="support-bot")
    assert config is not None and config.events_file == str(path) and config.agent_id == "support-bot"
    reporting.emit("tool_guard", "rate_limit", "allowed", tool="t")
    actguard.configure(None)  # closes the file sink, delivering what it queued
    (event,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert (event["agent_id"], event["name"]) == ("support-bot", "rate_limit")


def test_configure_takes_the_gateway_as_keywords() -> None:
    config = actguard.configure(gateway_url="http://127.0.0.1:9/events", api_key="sk-secret", flush_interval=0.5)
    assert config is not None
    assert (config.gateway_url, config.api_key, config.options.flush_interval) == (
        "http://127.0.0.1:9/events",
        "sk-secret",
        0.5,
    )
    assert "sk-secret" not in repr(config)


def test_configure_keywords_are_validated_like_the_dict() -> None:
    with pytest.raises(actguard.ConfigError, match="'gateway_url' is set but 'api_key' is missing"):
        actguard.configure(gateway_url="http://127.0.0.1:9/events")
    assert actguard.config.current_config() is None


def test_configure_refuses_an_unknown_keyword_naming_the_known_ones() -> None:
    """0.1.15's flush_interval_ms is now flush_interval (seconds): a typo or an old name is an error, never ignored."""
    with pytest.raises(actguard.ConfigError, match=r"unknown keyword argument\(s\) flush_interval_ms; known: agent_id"):
        actguard.configure(gateway_url="http://127.0.0.1:9/events", api_key="k", flush_interval_ms=500)


def test_configure_refuses_a_configuration_and_keywords_together() -> None:
    with pytest.raises(actguard.ConfigError, match="not both"):
        actguard.configure({"agent_id": "a"}, agent_id="b")


# -- shutdown(wait=) -----------------------------------------------------------------------------------------------
def test_shutdown_wait_false_is_a_zero_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """0.1.15's shutdown(wait=False) returned at once: here it gives the senders no time (timeout=0)."""
    given: list[float | None] = []

    class Sender:
        def close(self, timeout: float | None) -> bool:
            given.append(timeout)
            return True

    monkeypatch.setattr(reporting, "_senders", lambda: [Sender()])
    assert actguard.shutdown(wait=False)
    assert actguard.shutdown(wait=True)
    assert actguard.shutdown(5, wait=False)
    assert given[0] == 0.0 and given[1] is None and given[2] == 0.0


# -- error attributes ----------------------------------------------------------------------------------------------
def test_budget_error_has_the_old_attribute_names() -> None:
    guard = actguard.BudgetGuard(user_id="alice", usd_limit=0.001)
    with pytest.raises(actguard.BudgetExceededError) as caught, guard:
        actguard.add_cost("search_api", 0.002)
        guard.check()
    error = caught.value
    assert (error.usd_used, error.usd_limit) == (pytest.approx(0.002), 0.001)
    assert (error.tokens_used, error.token_limit) == (None, None)  # the error is about the USD limit only

    guard = actguard.BudgetGuard(user_id="alice", token_limit=10)
    with pytest.raises(actguard.BudgetExceededError) as caught, guard:
        guard.record(actguard.LLMUsage("gpt-4o", "openai", input_tokens=12, output_tokens=0))
        guard.check()
    error = caught.value
    assert (error.tokens_used, error.token_limit, error.usd_used, error.usd_limit) == (12, 10, None, None)


def test_rate_limit_error_has_func_name_and_max_calls(store: actguard.MemoryStore) -> None:
    @actguard.rate_limit(max_calls=1, period=60)
    def ping() -> str:
        return "pong"

    ping()
    with pytest.raises(actguard.RateLimitExceeded) as caught:
        ping()
    assert (caught.value.func_name, caught.value.max_calls) == (caught.value.tool_name, 1)
    assert "1 call per 60s" in str(caught.value) and "(1 call per 60s)" in caught.value.to_prompt()


def test_circuit_open_error_has_reset_at(store: actguard.MemoryStore, clock: FakeClock) -> None:
    @actguard.circuit_breaker(name="dep", max_fails=1, reset_timeout=30)
    def call() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        call()
    before = time.time()
    with pytest.raises(actguard.CircuitOpenError) as caught:
        call()
    after = time.time()
    assert before + 30 <= caught.value.reset_at <= after + 30  # wall time when a probe may go through
    assert caught.value.reset_at == pytest.approx(time.time() + caught.value.retry_after, abs=1)


# -- FailureKind and the preset sets -------------------------------------------------------------------------------
def test_failure_kind_members_are_the_kind_strings() -> None:
    from actguard.guards import FAILURE_KINDS

    assert {str(kind) for kind in actguard.FailureKind} == set(FAILURE_KINDS)
    assert actguard.FailureKind.TRANSPORT == "transport"
    assert actguard.FailureKind.INVALID is actguard.FailureKind.INVALID_INPUT  # 0.1.15's name


def test_presets_keep_their_0_1_15_meaning() -> None:
    kinds = actguard.FailureKind
    presets = {
        "FAIL_ON_DEFAULT": actguard.FAIL_ON_DEFAULT,
        "IGNORE_ON_DEFAULT": actguard.IGNORE_ON_DEFAULT,
        "FAIL_ON_STRICT": actguard.FAIL_ON_STRICT,
        "FAIL_ON_INFRA_ONLY": actguard.FAIL_ON_INFRA_ONLY,
    }
    assert presets == {
        "FAIL_ON_DEFAULT": {kinds.TRANSPORT, kinds.TIMEOUT, kinds.OVERLOADED},
        "IGNORE_ON_DEFAULT": {kinds.INVALID, kinds.NOT_FOUND, kinds.CONFLICT},
        "FAIL_ON_STRICT": {kinds.TRANSPORT, kinds.TIMEOUT, kinds.OVERLOADED, kinds.AUTH, kinds.THROTTLED},
        "FAIL_ON_INFRA_ONLY": {kinds.TRANSPORT, kinds.TIMEOUT},
    }


class _Throttled(Exception):
    status_code = 429


def test_a_breaker_with_0_1_15_presets_counts_as_0_1_15_did(store: actguard.MemoryStore) -> None:
    """fail_on=FAIL_ON_DEFAULT: transport errors open the circuit; throttling and unknown errors do not count."""

    @actguard.circuit_breaker(
        name="legacy", max_fails=2, fail_on=actguard.FAIL_ON_DEFAULT, ignore_on=actguard.IGNORE_ON_DEFAULT
    )
    def call(error: BaseException) -> None:
        raise error

    for error in [_Throttled("slow down"), RuntimeError("odd"), _Throttled("again"), RuntimeError("odd")]:
        with pytest.raises(type(error)):
            call(error)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            call(ConnectionError("down"))
    with pytest.raises(actguard.CircuitOpenError):
        call(ConnectionError("down"))


def test_a_single_failure_kind_member_is_accepted(store: actguard.MemoryStore) -> None:
    @actguard.circuit_breaker(name="one", max_fails=1, fail_on=[actguard.FailureKind.TIMEOUT])
    def call() -> None:
        raise ConnectionError("down")  # transport: not listed, so it does not count

    for _ in range(3):
        with pytest.raises(ConnectionError):
            call()


def test_max_attempts_error_has_used(store: actguard.MemoryStore) -> None:
    @actguard.max_attempts(calls=1)
    def search() -> str:
        return "ok"

    with actguard.RunContext(run_id="r1"):
        search()
        with pytest.raises(actguard.MaxAttemptsExceeded) as caught:
            search()
    assert (caught.value.used, caught.value.limit) == (caught.value.attempts, 1)


def test_idempotency_errors_have_key(store: actguard.MemoryStore) -> None:
    @actguard.idempotent(on_duplicate="raise")
    def refund(order_id: str, *, idempotency_key: str) -> str:
        return f"refunded {order_id}"

    with actguard.RunContext(run_id="r1"):
        refund("o1", idempotency_key="k1")
        with pytest.raises(actguard.DuplicateIdempotencyKey) as caught:
            refund("o1", idempotency_key="k1")
    assert caught.value.key == caught.value.idempotency_key == "k1"
