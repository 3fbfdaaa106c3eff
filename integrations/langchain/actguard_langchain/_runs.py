"""Budgets per top-level LangChain run: actguard's :class:`~actguard.runs.RunBudgets` (kept importable here).

LangChain reports every run (chain, graph node, model call, tool) with its own id and its parent's id, never the
root's; ``RunBudgets.start`` / ``end`` follow that tree, so a model call deep inside an agent finds the budget of the
top-level run it belongs to.
"""

from __future__ import annotations

from actguard.runs import RunBudgets

__all__ = ["RunBudgets"]
