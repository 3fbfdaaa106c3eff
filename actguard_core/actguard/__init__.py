"""actguard: runtime guardrails for LLM agents.

Spend caps (:class:`BudgetGuard`), tool guards (:func:`rate_limit`, :func:`circuit_breaker`, :func:`timeout`,
:func:`max_attempts`, :func:`idempotent`, combined by :func:`tool`), and chain of custody (:func:`session`,
:func:`prove`, :func:`enforce`).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

# spend
from actguard.budget import BudgetGuard, LLMUsage, current_budget, prices

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
from actguard.exceptions import (
    ActGuardError,
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
)
from actguard.stores import MemoryStore, Store, get_default_store, set_default_store

try:
    __version__ = _version("actguard")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
    "ActGuardError",
    "BudgetExceededError",
    "BudgetGuard",
    "CircuitOpenError",
    "ConfigError",
    "ContextThreadPoolExecutor",
    "DuplicateIdempotencyKey",
    "GuardError",
    "IdempotencyError",
    "IdempotencyInProgress",
    "IdempotencyOutcomeUnknown",
    "LLMUsage",
    "MaxAttemptsExceeded",
    "MemoryStore",
    "MissingRuntimeContextError",
    "RateLimitExceeded",
    "RunContext",
    "Session",
    "Store",
    "StoreUnavailable",
    "ToolGuardError",
    "ToolTimeoutError",
    "UnknownModelPriceError",
    "__version__",
    "bind_context",
    "current_budget",
    "current_run",
    "current_session",
    "get_default_store",
    "prices",
    "session",
    "set_default_store",
]
