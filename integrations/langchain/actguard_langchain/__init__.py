"""actguard for LangChain: a budget per top-level run, guarded tools, and langchain v1 agent middleware.

- :class:`ActGuardCallbackHandler`: meters every model call of a run (streaming included) into a budget per
  top-level run, or the active :class:`actguard.BudgetGuard`, and refuses the next model call once it is spent.
- :class:`ActGuardMiddleware` (needs ``langchain >= 1.0``): the same for ``create_agent``, as agent middleware,
  plus tool refusals returned to the model as error ``ToolMessage`` s.
- :func:`guard_tool` / :func:`guard_tools`: LangChain tools with actguard's tool guards and chain of custody.
- :mod:`actguard_langchain.testing`: a scripted chat model for offline tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actguard_langchain._compat import LANGCHAIN_CORE_VERSION
from actguard_langchain._handler import ActGuardCallbackHandler
from actguard_langchain._tools import guard_tool, guard_tools

if TYPE_CHECKING:
    from actguard_langchain._middleware import ActGuardMiddleware

__all__ = ["LANGCHAIN_CORE_VERSION", "ActGuardCallbackHandler", "ActGuardMiddleware", "guard_tool", "guard_tools"]


def __getattr__(name: str) -> Any:
    # The middleware needs langchain v1 (not only langchain-core): import it on first use.
    if name == "ActGuardMiddleware":
        from actguard_langchain._middleware import ActGuardMiddleware

        return ActGuardMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
