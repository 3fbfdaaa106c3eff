"""Spend: BudgetGuard, usage and prices.

Inside ``with BudgetGuard(...)`` (or ``async with``) every OpenAI, Anthropic and Google GenAI SDK call is metered
automatically (``providers``), and each call is recorded once however many layers see it: the SDK meter and the
framework adapters both call :meth:`BudgetGuard.record` with the provider's response id as ``call_id``, and a call
without one is told apart through :mod:`actguard.budget.metering` (what another layer metered while it ran). Usage is
read by :mod:`actguard.budget.usage_parsing` (OpenAI, Anthropic, Google), every separately billed quantity included
(1-hour cache writes, audio / image / video tokens, web searches). A call no layer could meter is charged an estimate
with a warning (refused under ``strict=True``).

Enforcement:

- Before a call is sent: a guard (or an enclosing one) at or over a limit raises :class:`~actguard.BudgetExceededError`;
  a model without a known price under a ``usd_limit`` raises :class:`~actguard.UnknownModelPriceError` (unless the
  guard has ``on_unknown_model="warn"`` and a ``fallback_price``); a ``strict=True`` guard also refuses a call whose
  worst case (prompt estimate plus the call's max output tokens, at the model's price) would not fit.
- After a call: if it took a guard to a limit, BudgetExceededError is raised with the response in ``error.response``.
- Streams stop as soon as their running estimate (prompt plus one token per 4 streamed characters) reaches a limit;
  a stream that ends is charged the usage the provider reports, one closed or abandoned early the estimate.

Soft landing: ``BudgetGuard(..., warn_at=0.8, on_warn=callable)`` warns once when the spend reaches 80% of a limit
(``guard.warned``, the callback, a ``budget`` / ``soft_limit`` / ``warned`` event); from then on :func:`landing_note`
gives the note the framework adapters put in front of the model's next call, telling it to finish with what it has.

Prices come from genai-prices' bundled data, cached per model (:mod:`actguard.budget.prices`).

Shared budgets: ``BudgetGuard(user_id="alice", usd_limit=5, shared=True, window="1d", store=None)`` also adds its
spend to the store under ``actguard:budget:<name>:<user_id>`` (expiring ``window`` after the key's first spend), and
its limits compare the store's totals, so every process using the same SQLite or Redis store shares one budget.
Before an LLM call a shared guard reserves its worst case in one atomic store operation (``spend_reserve``,
refused when it would cross a limit); after it, one ``spend_settle`` replaces the reservation with the metered cost
(see :mod:`actguard.budget._shared`: leases, the outbox of spend a store could not take, what is exact). ``usd_used``
and ``tokens_used`` stay this guard's own share; :meth:`BudgetGuard.shared_usage` reads the shared totals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actguard.budget.providers import install_imported as _install_imported
from actguard.budget.providers import watch_imports as _watch_imports

if TYPE_CHECKING:
    from actguard.budget import prices
    from actguard.budget._guard import BudgetGuard, ModelUsage, aadd_cost, add_cost, current_budget
    from actguard.budget._landing import landing_note
    from actguard.budget._usage import LLMUsage

# Imported on first use: the SDK hooks above are all `import actguard` needs, while the guard, its prices (dataclasses,
# inspect) and its shared-budget machinery (the stores) cost more than the rest of actguard together, and a process
# using only the tool guards or custody never builds a BudgetGuard.
_LAZY = {
    "BudgetGuard": "actguard.budget._guard",
    "LLMUsage": "actguard.budget._usage",
    "ModelUsage": "actguard.budget._guard",
    "aadd_cost": "actguard.budget._guard",
    "add_cost": "actguard.budget._guard",
    "current_budget": "actguard.budget._guard",
    "landing_note": "actguard.budget._landing",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "prices":
        value: Any = importlib.import_module("actguard.budget.prices")
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'actguard.budget' has no attribute {name!r}")
    globals()[name] = value
    return value


__all__ = ["BudgetGuard", "LLMUsage", "ModelUsage", "aadd_cost", "add_cost", "current_budget", "landing_note", "prices"]

_install_imported()
_watch_imports()
