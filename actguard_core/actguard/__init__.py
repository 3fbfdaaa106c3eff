"""actguard: runtime guardrails for LLM agents.

Spend caps (:class:`BudgetGuard`), tool guards (:func:`rate_limit`, :func:`circuit_breaker`, :func:`timeout`,
:func:`max_attempts`, :func:`idempotent`, combined by :func:`tool`), and chain of custody (:func:`session`,
:func:`prove`, :func:`enforce`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# spend (its SDK hooks; BudgetGuard and the rest are imported on first use, see below)
from actguard import budget as _budget  # noqa: F401  (imported for its SDK hooks)
from actguard import reporting

# core context and state
from actguard.context import (
    RunContext,
    Session,
    bind_context,
    current_run,
    current_session,
    session,
)
from actguard.custody import BlockRegex, RequireFact, Rule, Threshold, enforce, prove
from actguard.exceptions import (
    ActGuardError,
    ActGuardWarning,
    BudgetExceededError,
    CircuitOpenError,
    ConfigError,
    DuplicateIdempotencyKey,
    GuardError,
    IdempotencyError,
    IdempotencyInProgress,
    IdempotencyOutcomeUnknown,
    LoopDetected,
    MaxAttemptsExceeded,
    MissingRuntimeContextError,
    RateLimitExceeded,
    StoreUnavailable,
    ToolGuardError,
    ToolTimeoutError,
    UnknownModelPriceError,
    UnmeteredCallError,
)
from actguard.guards import circuit_breaker, idempotent, loop_guard, max_attempts, rate_limit, timeout, tool
from actguard.guards.failure_kinds import (
    FAIL_ON_DEFAULT,
    FAIL_ON_INFRA_ONLY,
    FAIL_ON_STRICT,
    IGNORE_ON_DEFAULT,
    FailureKind,
)
from actguard.reporting import shutdown
from actguard.stores import MemoryStore, Store, get_default_store, set_default_store

if TYPE_CHECKING:
    from actguard.budget import BudgetGuard, LLMUsage, ModelUsage, aadd_cost, add_cost, current_budget, prices
    from actguard.config import configure
    from actguard.context import ContextThreadPoolExecutor
    from actguard.reporting import HttpSink, JsonlSink
    from actguard.stores import RedisStore, SQLiteStore

    __version__: str

# Imported on first use, so that `import actguard` stays fast: the version lookup (importlib.metadata), the sinks
# (http.client, ssl) and configure() which makes them, the SQLite / Redis stores (sqlite3, asyncio), the thread
# pool (concurrent.futures, logging) and BudgetGuard with its prices cost more than the rest together.
_LAZY = {
    "BudgetGuard": "actguard.budget",
    "LLMUsage": "actguard.budget",
    "ModelUsage": "actguard.budget",
    "aadd_cost": "actguard.budget",
    "add_cost": "actguard.budget",
    "current_budget": "actguard.budget",
    "prices": "actguard.budget",
    "configure": "actguard.config",
    "ContextThreadPoolExecutor": "actguard.context",
    "HttpSink": "actguard.reporting",
    "JsonlSink": "actguard.reporting",
    "RedisStore": "actguard.stores",
    "SQLiteStore": "actguard.stores",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("actguard")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
            value = "0.0.0"
    elif name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'actguard' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = [
    "ActGuardError",
    "ActGuardWarning",
    "BlockRegex",
    "BudgetExceededError",
    "BudgetGuard",
    "CircuitOpenError",
    "ConfigError",
    "ContextThreadPoolExecutor",
    "DuplicateIdempotencyKey",
    "FAIL_ON_DEFAULT",
    "FAIL_ON_INFRA_ONLY",
    "FAIL_ON_STRICT",
    "FailureKind",
    "GuardError",
    "HttpSink",
    "IGNORE_ON_DEFAULT",
    "IdempotencyError",
    "IdempotencyInProgress",
    "IdempotencyOutcomeUnknown",
    "JsonlSink",
    "LLMUsage",
    "LoopDetected",
    "MaxAttemptsExceeded",
    "MemoryStore",
    "MissingRuntimeContextError",
    "ModelUsage",
    "RateLimitExceeded",
    "RedisStore",
    "RequireFact",
    "Rule",
    "RunContext",
    "SQLiteStore",
    "Session",
    "Store",
    "StoreUnavailable",
    "Threshold",
    "ToolGuardError",
    "ToolTimeoutError",
    "UnknownModelPriceError",
    "UnmeteredCallError",
    "__version__",
    "aadd_cost",
    "add_cost",
    "bind_context",
    "circuit_breaker",
    "configure",
    "current_budget",
    "current_run",
    "current_session",
    "enforce",
    "get_default_store",
    "idempotent",
    "loop_guard",
    "max_attempts",
    "prices",
    "prove",
    "rate_limit",
    "reporting",
    "session",
    "set_default_store",
    "shutdown",
    "timeout",
    "tool",
]
