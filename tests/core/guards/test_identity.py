"""Tool identity: which functions share a guard's state (only those the user names alike)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

import actguard
from actguard import ConfigError, MemoryStore, RateLimitExceeded, rate_limit
from actguard.guards._wrap import ToolInfo


def _factory(label: str, **guards: Any) -> Callable[[str], str]:
    @actguard.tool(**guards)
    def search(query: str) -> str:
        return f"{label}:{query}"

    return search


def test_two_closures_from_one_factory_under_a_bare_rate_limit_have_their_own_buckets(store: MemoryStore) -> None:
    def make(label: str) -> Callable[[str], str]:
        @rate_limit(max_calls=1, period=60)
        def search(query: str) -> str:
            return f"{label}:{query}"

        return search

    web, news = make("web"), make("news")
    assert web("a") == "web:a"
    assert news("a") == "news:a"  # its first call is not refused because web used its bucket
    with pytest.raises(RateLimitExceeded) as info:
        web("b")
    assert info.value.tool_name == "search"
    with pytest.raises(RateLimitExceeded):
        news("b")


def test_the_same_name_shares_state_on_purpose(store: MemoryStore) -> None:
    first = _factory("web", name="search", rate_limit={"max_calls": 1, "period": 60})
    second = _factory("news", name="search", rate_limit={"max_calls": 1, "period": 60})
    first("a")
    with pytest.raises(RateLimitExceeded) as info:
        second("a")
    assert info.value.tool_name == "search"


def test_name_is_the_tool_name_in_every_refusal(store: MemoryStore) -> None:
    tool = _factory("web", name="search_web", rate_limit={"max_calls": 1, "period": 60}, max_attempts=1)
    with actguard.RunContext():
        tool("a")
        with pytest.raises(actguard.MaxAttemptsExceeded) as attempts:
            tool("b")
    assert attempts.value.tool_name == "search_web"
    assert "'search_web'" in attempts.value.to_prompt()


def test_identity_is_stable_per_function_and_follows_wrappers() -> None:
    def make() -> Callable[[], None]:
        def fn() -> None: ...

        return fn

    one, two = make(), make()
    ident_one = ToolInfo.of(one, "t").ident
    assert ToolInfo.of(one, "t").ident == ident_one  # the same function twice: the same identity
    assert ToolInfo.of(functools.wraps(one)(lambda: None), "t").ident == ident_one  # a wrapper: its function's
    assert ToolInfo.of(two, "t").ident == ident_one + "#2"  # the second closure: the next ordinal
    assert ident_one.endswith("make.<locals>.fn")  # the first keeps module + qualified name (processes line up)


def test_different_names_never_share(store: MemoryStore) -> None:
    web = _factory("w", name="search_web", rate_limit={"max_calls": 1, "period": 60})
    news = _factory("n", name="search_news", rate_limit={"max_calls": 1, "period": 60})
    assert (web("a"), news("a")) == ("w:a", "n:a")


@pytest.mark.parametrize(
    "make",
    [
        lambda: rate_limit(1, 1, name=""),
        lambda: actguard.max_attempts(1, name=3),
        lambda: actguard.idempotent(name=""),
        lambda: actguard.timeout(1.0, name=b"x"),
        lambda: actguard.circuit_breaker("db", tool_name=""),
        lambda: actguard.tool(name=""),
    ],
)
def test_a_bad_name_is_a_config_error(make: Callable[[], Any]) -> None:
    with pytest.raises(ConfigError, match=r"name=\.\.\.\) must be a non-empty str"):
        make()
