"""A short human-readable reason for a refusing decision, from its event payload (for ``actguard.guard.reason``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _num(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def reason_of(name: str, outcome: str, payload: Mapping[str, Any] | None) -> str:
    """Say why ``name`` decided ``outcome``; falls back to the outcome itself when the payload says nothing."""
    p = payload or {}
    if "code" in p:  # chain of custody: MISSING_FACT, NO_SESSION, TOO_MANY_RESULTS, ...
        return str(p["code"])
    if "limit_type" in p:  # budgets
        if "limit" in p and "used" in p:
            return f"{p['limit_type']} limit {_num(p['limit'])} reached (used {_num(p['used'])})"
        return f"{p['limit_type']} limit reached"
    if name == "rate_limit" and "limit" in p:
        text = f"{p['limit']} calls per {_num(p.get('period'))}s reached"
        return text + (f"; retry after {_num(p['retry_after'])}s" if p.get("retry_after") is not None else "")
    if name == "circuit_breaker" and "dependency" in p:
        text = f"circuit {p['dependency']} open"
        return text + (f"; retry after {_num(p['retry_after'])}s" if p.get("retry_after") is not None else "")
    if name == "max_attempts" and "limit" in p:
        return f"attempt {p.get('attempts')} of at most {p['limit']}"
    if name == "timeout" and "timeout_s" in p:
        return f"timed out after {_num(p['timeout_s'])}s"
    if "reason" in p:  # idempotent (duplicate, in_progress, ...) and run-scoped guards without a run (no_run)
        return str(p["reason"])
    return outcome
