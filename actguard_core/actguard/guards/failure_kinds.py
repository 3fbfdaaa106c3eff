"""``FailureKind`` and the preset ``fail_on`` / ``ignore_on`` sets, under their actguard 0.1.15 names.

:func:`actguard.circuit_breaker` takes failure kinds as strings (``FAILURE_KINDS``); code written for actguard 0.1.15
spells them ``FailureKind.TRANSPORT`` and passes the preset sets below. Both work: a member is the string of its
kind (``FailureKind.TRANSPORT == "transport"``). The presets keep their 0.1.15 meaning, which is narrower than
today's default (:data:`actguard.guards.DEFAULT_FAIL_ON` also counts ``throttled`` and ``unknown`` failures)::

    @actguard.circuit_breaker(name="search", fail_on=FAIL_ON_DEFAULT, ignore_on=IGNORE_ON_DEFAULT)  # as in 0.1.15
    def search(query: str) -> str: ...
"""

from __future__ import annotations

from enum import Enum

__all__ = ["FAIL_ON_DEFAULT", "FAIL_ON_INFRA_ONLY", "FAIL_ON_STRICT", "IGNORE_ON_DEFAULT", "FailureKind"]


class FailureKind(str, Enum):
    """The failure kinds :func:`actguard.circuit_breaker` classifies exceptions into (each equal to its string)."""

    TRANSPORT = "transport"
    TIMEOUT = "timeout"
    OVERLOADED = "overloaded"
    THROTTLED = "throttled"
    AUTH = "auth"
    INVALID_INPUT = "invalid_input"
    INVALID = "invalid_input"  # 0.1.15's name (its string was "invalid")
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return str(self.value)


#: 0.1.15's default ``fail_on``: connection failures, timeouts, overload (not throttling, not unknown errors).
FAIL_ON_DEFAULT: frozenset[FailureKind] = frozenset(
    {FailureKind.TRANSPORT, FailureKind.TIMEOUT, FailureKind.OVERLOADED}
)
#: 0.1.15's default ``ignore_on``: errors of the caller's request, which say nothing about the dependency's health.
IGNORE_ON_DEFAULT: frozenset[FailureKind] = frozenset(
    {FailureKind.INVALID_INPUT, FailureKind.NOT_FOUND, FailureKind.CONFLICT}
)
#: FAIL_ON_DEFAULT plus authentication failures and throttling.
FAIL_ON_STRICT: frozenset[FailureKind] = FAIL_ON_DEFAULT | {FailureKind.AUTH, FailureKind.THROTTLED}
#: Only connection failures and timeouts.
FAIL_ON_INFRA_ONLY: frozenset[FailureKind] = frozenset({FailureKind.TRANSPORT, FailureKind.TIMEOUT})
