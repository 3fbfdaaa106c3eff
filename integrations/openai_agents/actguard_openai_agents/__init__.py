"""actguard for the OpenAI Agents SDK: a budget per Runner run, a budget guardrail, and guarded function tools.

- :class:`ActGuardRunHooks`: ``RunHooks`` that meter every model call of a run (streaming included) into a budget
  per run, or the active :class:`actguard.BudgetGuard`, and refuse the next model call once it is spent.
- :func:`budget_guardrail`: an input guardrail whose tripwire fires before any model call when the budget is spent.
- :func:`guard_tool` / :func:`guard_tools`: ``FunctionTool`` s with actguard's tool guards and chain of custody;
  recoverable refusals reach the model as the tool's output.
- :func:`custody_guardrail`: chain-of-custody rules as a tool input guardrail (openai-agents >= 0.3.3).
- :mod:`actguard_openai_agents.testing`: a scripted ``Model`` for offline tests.
"""

from __future__ import annotations

from actguard_openai_agents._compat import AGENTS_VERSION, HAS_SEQUENTIAL_GUARDRAILS, HAS_TOOL_GUARDRAILS
from actguard_openai_agents._custody import custody_guardrail
from actguard_openai_agents._guardrail import budget_guardrail
from actguard_openai_agents._hooks import ActGuardRunHooks
from actguard_openai_agents._tools import RECOVERABLE, guard_tool, guard_tools

__all__ = [
    "AGENTS_VERSION",
    "HAS_SEQUENTIAL_GUARDRAILS",
    "HAS_TOOL_GUARDRAILS",
    "RECOVERABLE",
    "ActGuardRunHooks",
    "budget_guardrail",
    "custody_guardrail",
    "guard_tool",
    "guard_tools",
]
