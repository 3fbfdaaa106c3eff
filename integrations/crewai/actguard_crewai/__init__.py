"""actguard for CrewAI: a budget per crew kickoff and guarded tools.

- :class:`ActGuardCrewHooks` (earlier name ``CrewBudget``): a budget per kickoff; meters every LLM call of a crew
  (CrewAI's event bus) and stops the crew before the next call once a limit is crossed (a ``before_llm_call`` hook
  scoped to that kickoff). ``budget_for(result_or_error)`` reads a kickoff's budget.
- :func:`guard_tool` / :func:`guard_tools`: CrewAI tools with actguard's guards; refusals reach the model as text,
  and errors for the caller (store, configuration, budget) reach the caller of ``kickoff``.
- :mod:`actguard_crewai.testing`: a scripted CrewAI LLM for offline tests.
"""

from __future__ import annotations

from actguard_crewai._budget import ActGuardCrewHooks, AgentUsage, CrewBudget, CrewBudgetExceeded
from actguard_crewai._compat import CREWAI_VERSION
from actguard_crewai._tools import guard_tool, guard_tools

__all__ = [
    "CREWAI_VERSION",
    "ActGuardCrewHooks",
    "AgentUsage",
    "CrewBudget",
    "CrewBudgetExceeded",
    "guard_tool",
    "guard_tools",
]
