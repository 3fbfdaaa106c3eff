"""actguard for pydantic-ai: a budget per agent run, and guarded tools and toolsets.

- :class:`ActGuardCapability`: a pydantic-ai capability (``Agent(..., capabilities=[...])``) that gives each agent
  run its own :class:`actguard.BudgetGuard`, meters every model call (streaming included) and refuses the next one
  once the budget is spent.
- :class:`ActGuardModel`: the same budget per run through a wrapped model (``Agent(ActGuardModel(model, ...))``),
  without a capability in the run (cheaper; the run's tools are not inside its budget).
- :func:`guard_tool` / :func:`guard_tools`: ``Tool`` s (and toolsets, :class:`ActGuardToolset`) with actguard's tool
  guards and chain of custody; recoverable refusals reach the model as ``ModelRetry``.
- :mod:`actguard_pydantic_ai.testing`: a scripted ``FunctionModel`` for offline tests.
"""

from __future__ import annotations

from actguard_pydantic_ai._capability import ActGuardCapability
from actguard_pydantic_ai._compat import PYDANTIC_AI_VERSION
from actguard_pydantic_ai._model import ActGuardModel
from actguard_pydantic_ai._tools import ActGuardToolset, guard_tool, guard_tools

__all__ = ["PYDANTIC_AI_VERSION", "ActGuardCapability", "ActGuardModel", "ActGuardToolset", "guard_tool", "guard_tools"]
