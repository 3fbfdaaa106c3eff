"""Spend: BudgetGuard, usage and prices."""

from __future__ import annotations

from actguard.budget import prices
from actguard.budget._guard import BudgetGuard, ModelUsage, add_cost, current_budget
from actguard.budget._usage import LLMUsage
from actguard.budget.providers import install_imported as _install_imported

__all__ = ["BudgetGuard", "LLMUsage", "ModelUsage", "add_cost", "current_budget", "prices"]

_install_imported()
