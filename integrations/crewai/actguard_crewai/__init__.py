"""actguard for CrewAI: a budget per crew kickoff and guarded tools.

- :class:`CrewBudget`: meters every LLM call of a crew (CrewAI's event bus) and stops the crew before the next
  call once a limit is crossed (a ``before_llm_call`` hook scoped to that kickoff).
- :func:`guard_tool` / :func:`guard_tools`: CrewAI tools with actguard's guards; refusals reach the model as text.
"""

from __future__ import annotations

from actguard_crewai._budget import AgentUsage, CrewBudget, CrewBudgetExceeded
from actguard_crewai._compat import CREWAI_VERSION
from actguard_crewai._tools import guard_tool, guard_tools

__all__ = ["CREWAI_VERSION", "AgentUsage", "CrewBudget", "CrewBudgetExceeded", "guard_tool", "guard_tools"]
