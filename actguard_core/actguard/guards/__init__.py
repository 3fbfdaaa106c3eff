"""Tool guards: decorators that refuse or bound a tool call, each with its state in a :class:`actguard.Store`.

* :func:`rate_limit` - at most N calls per sliding window, per scope value.
* :func:`circuit_breaker` - fail fast while a dependency keeps failing.
* :func:`timeout` - bound a call's wall-clock time.
* :func:`max_attempts` - at most N calls of a tool per run.
* :func:`idempotent` - at most one execution per idempotency key per run.
* :func:`loop_guard` - refuse a call (or short cycle of calls) an agent already made in this run.
* :func:`tool` - all of the above (plus chain of custody) in one declaration, in a fixed order.

Every decorator keeps the wrapped function's name, docstring and signature, works on plain and coroutine
functions, rejects bad arguments with :class:`actguard.ConfigError` when it is applied, and reports each decision
with :func:`actguard.reporting.emit` (category ``tool_guard``).
"""

from __future__ import annotations

from actguard.guards._failures import FAILURE_KINDS, FailureKind, failure_kind
from actguard.guards.circuit_breaker import DEFAULT_FAIL_ON, circuit_breaker
from actguard.guards.idempotent import idempotent
from actguard.guards.loop_guard import loop_guard
from actguard.guards.max_attempts import max_attempts
from actguard.guards.rate_limit import rate_limit
from actguard.guards.timeout import timeout
from actguard.guards.tool import GUARD_ORDER, tool

__all__ = [
    "DEFAULT_FAIL_ON",
    "FAILURE_KINDS",
    "GUARD_ORDER",
    "FailureKind",
    "circuit_breaker",
    "failure_kind",
    "idempotent",
    "loop_guard",
    "max_attempts",
    "rate_limit",
    "timeout",
    "tool",
]
