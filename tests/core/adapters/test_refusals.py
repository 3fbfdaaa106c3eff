"""actguard.refusals: which errors go back to the model (with what text) and which always reach the caller."""

from __future__ import annotations

import pytest

import actguard
from actguard.exceptions import (
    BudgetExceededError,
    CircuitOpenError,
    ConfigError,
    GuardError,
    MissingRuntimeContextError,
    RateLimitExceeded,
    StoreUnavailable,
    ToolTimeoutError,
)
from actguard.refusals import check_on_refusal, is_recoverable, park, parked_in, refusal_text, returned_to_model
from actguard.testing import capture_events

RATE = RateLimitExceeded(tool_name="search_impl", limit=1, period=60, retry_after=30)


@pytest.mark.parametrize(
    "error",
    [
        RATE,
        CircuitOpenError(dependency_name="db", retry_after=5),
        ToolTimeoutError(tool_name="search", timeout_s=2),
        GuardError("MISSING_FACT", "order_id 'o9' was not returned by a read tool"),
    ],
)
def test_recoverable_refusals_go_back_to_the_model(error: Exception) -> None:
    assert is_recoverable(error)
    with capture_events() as events:
        text = returned_to_model(error, "search")
    assert "'search'" in text
    [event] = events.of(category="tool_guard", name="refusal", outcome="returned_to_model")
    assert event["tool"] == "search" and event["payload"]["error"] == type(error).__name__


@pytest.mark.parametrize(
    "error",
    [
        StoreUnavailable("redis", "hit_window", ConnectionError("127.0.0.1:1 refused")),
        ConfigError("bad"),
        MissingRuntimeContextError("max_attempts", "search"),
        BudgetExceededError("alice", "usd", 1.0, 1.2),
        GuardError("NO_SESSION", "no session"),
        ValueError("the tool's own bug"),
    ],
)
def test_store_config_programming_and_budget_errors_always_reach_the_caller(error: Exception) -> None:
    assert not is_recoverable(error)
    with capture_events() as events, pytest.raises(type(error)) as info:
        returned_to_model(error, "search", "message")
    assert info.value is error
    assert not events.of(name="refusal")


def test_on_refusal_raise_raises_recoverable_refusals_too() -> None:
    with pytest.raises(RateLimitExceeded):
        returned_to_model(RATE, "search", "raise")


def test_the_text_names_the_tool_the_model_called() -> None:
    assert refusal_text(RATE, "search") == (
        "Tool 'search' is rate limited (1 calls per 60s). Retry after 30s or continue without it."
    )
    missing = GuardError("MISSING_FACT", "order_id 'o9' was not returned by a read tool")
    assert refusal_text(missing, "delete_order").endswith("(tool 'delete_order')")
    assert refusal_text(RATE) == RATE.to_prompt()


def test_on_refusal_is_checked() -> None:
    assert check_on_refusal("raise", "x(on_refusal=...)") == "raise"
    with pytest.raises(ConfigError, match=r"x\(on_refusal=\.\.\.\) must be one of \('message', 'raise'\)"):
        check_on_refusal("ignore", "x(on_refusal=...)")


def test_a_parked_error_is_found_again_from_its_placeholder_only() -> None:
    error = StoreUnavailable("redis", "hit_window", ConnectionError("10.0.0.7:6379 refused"))
    placeholder = park(error)
    assert "10.0.0.7" not in placeholder and "redis" not in placeholder
    assert parked_in(["Observation: " + placeholder, None]) is error
    assert parked_in([placeholder]) is error  # still parked: a retried call meets it again
    assert parked_in(["nothing here", 42]) is None


def test_guards_applied_by_hand_are_renamed_in_the_text(store: actguard.MemoryStore) -> None:
    @actguard.rate_limit(max_calls=1, period=60)
    def search_impl(query: str) -> str:
        return query

    search_impl("a")
    with pytest.raises(RateLimitExceeded) as info:
        search_impl("b")
    assert "search_impl" not in refusal_text(info.value, "search")
