"""actguard: runtime guardrails for LLM agents.

Spend caps (:class:`BudgetGuard`), tool guards (:func:`rate_limit`, :func:`circuit_breaker`, :func:`timeout`,
:func:`max_attempts`, :func:`idempotent`, combined by :func:`tool`), and chain of custody (:func:`session`,
:func:`prove`, :func:`enforce`).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from actguard import reporting

# spend
from actguard.budget import BudgetGuard, LLMUsage, ModelUsage, add_cost, current_budget, prices
from actguard.config import configure

# core context and state
from actguard.context import (
    ContextThreadPoolExecutor,
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
    MaxAttemptsExceeded,
    MissingRuntimeContextError,
    RateLimitExceeded,
    StoreUnavailable,
    ToolGuardError,
    ToolTimeoutError,
    UnknownModelPriceError,
    UnmeteredCallError,
)
from actguard.guards import circuit_breaker, idempotent, max_attempts, rate_limit, timeout, tool
from actguard.reporting import HttpSink, JsonlSink, shutdown
from actguard.stores import MemoryStore, RedisStore, SQLiteStore, Store, get_default_store, set_default_store

try:
    __version__ = _version("actguard")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

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
    "GuardError",
    "HttpSink",
    "IdempotencyError",
    "IdempotencyInProgress",
    "IdempotencyOutcomeUnknown",
    "JsonlSink",
    "LLMUsage",
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
