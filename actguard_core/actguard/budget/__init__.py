"""Spend: BudgetGuard, usage and prices."""

from __future__ import annotations

from actguard.budget import prices
from actguard.budget._guard import BudgetGuard, ModelUsage, current_budget
from actguard.budget._usage import LLMUsage

__all__ = ["BudgetGuard", "LLMUsage", "ModelUsage", "current_budget", "prices"]
