"""actguard for LlamaIndex: a budget per agent run and guarded tools.

- :class:`ActGuardCallbackHandler` (earlier name ``ActGuardHandler``): a LlamaIndex callback handler that meters
  every LLM call (chat, completion, streaming; sync and async) into the active budget and refuses the next call
  once it is spent. ``guard.run(agent, ...)`` starts a ``FunctionAgent`` / ``AgentWorkflow`` run under a budget of
  its own (``guard.budget_for(handler)``); :func:`instrument` / :func:`install` attach the handler to given LLMs or
  globally (``Settings.callback_manager``).
- :func:`guard_tool` / :func:`guard_tools`: ``FunctionTool`` s with actguard's tool guards and chain of custody;
  refusals reach the model as an error ``ToolOutput``.
- :mod:`actguard_llamaindex.testing`: a scripted function-calling LLM for offline tests.
"""

from __future__ import annotations

from actguard_llamaindex._compat import LLAMA_INDEX_CORE_VERSION
from actguard_llamaindex._errors import budget_error
from actguard_llamaindex._handler import (
    ActGuardCallbackHandler,
    ActGuardHandler,
    install,
    instrument,
    uninstall,
    uninstrument,
)
from actguard_llamaindex._tools import guard_tool, guard_tools

__all__ = [
    "LLAMA_INDEX_CORE_VERSION",
    "ActGuardCallbackHandler",
    "ActGuardHandler",
    "budget_error",
    "guard_tool",
    "guard_tools",
    "install",
    "instrument",
    "uninstall",
    "uninstrument",
]
