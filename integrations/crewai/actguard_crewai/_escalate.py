"""Errors a guarded tool must raise to the caller, through CrewAI, which hands every tool exception to the model.

CrewAI catches whatever a tool raises and puts its text in the next prompt ("I encountered an error while trying
to use the tool..."), so an unreachable store would reach the model with its address, and the run would go on.
The rule of :mod:`actguard.refusals` says such errors (store, configuration, a spent budget...) go to the caller.

So a guarded tool that hits one inside an agent's loop (called by CrewAI's agent machinery; a tool called
directly just raises) returns a placeholder instead (:func:`actguard.refusals.park`). A ``before_llm_call`` hook,
registered once per process, finds the placeholder in the messages of the next model call, which CrewAI makes right
after appending the tool's result, and aborts that call with the parked error: the model never sees it. The abort
is an instance of the error's own type that is also CrewAI's ``HookAborted`` (``except actguard.StoreUnavailable``
works; CrewAI >= 1.15.19 lets it out of ``kickoff`` as it is). Older releases log the abort and retry the task
afresh: inside an :class:`~actguard_crewai.ActGuardCrewHooks` kickoff every later model call is aborted and the kickoff
raises the error; without one, those releases go on without the tool's result.
"""

from __future__ import annotations

import contextvars
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from actguard.refusals import park as _park
from actguard.refusals import parked_in
from actguard_crewai._compat import HookAborted, InterceptionPoint

__all__ = ["collecting_aborts", "escalated", "in_agent_loop", "install_hook", "park"]

# The errors the hook aborted model calls with, per kickoff (ActGuardCrewHooks collects them: CrewAI < 1.15.19 turns an
# abort into a ValueError, or logs it and goes on).
_aborts: contextvars.ContextVar[list[BaseException] | None] = contextvars.ContextVar(
    "actguard_crew_aborts", default=None
)


@contextmanager
def collecting_aborts(found: list[BaseException]) -> Iterator[list[BaseException]]:
    """Collect into ``found`` the errors parked tools abort model calls with inside the block (a kickoff)."""
    token = _aborts.set(found)
    try:
        yield found
    finally:
        _aborts.reset(token)


# Modules of CrewAI's agent loops, which catch a tool's exceptions and show them to the model.
_AGENT_LOOPS = ("crewai.agents", "crewai.tools.tool_usage", "crewai.utilities.agent_utils", "crewai.lite_agent")

_lock = threading.Lock()
_types: dict[type[BaseException], type[BaseException]] = {}
_installed = False


def escalated(error: BaseException) -> BaseException:
    """``error`` as an instance of its own type that is also ``HookAborted`` (CrewAI lets those out of kickoff)."""
    if isinstance(error, HookAborted):
        return error
    cls = type(error)
    with _lock:
        both = _types.get(cls)
        if both is None:
            try:
                both = type(cls.__name__, (cls, HookAborted), {"__module__": cls.__module__})
            except TypeError:  # a type that cannot be combined (instance layout): CrewAI's own, the error as cause
                both = HookAborted
            _types[cls] = both
    if both is HookAborted:
        return HookAborted(str(error), source="actguard")
    copy = both.__new__(both)
    copy.__dict__.update(error.__dict__)
    copy.args = error.args
    copy.reason = str(error)  # type: ignore[attr-defined]
    copy.source = "actguard"  # type: ignore[attr-defined]
    copy.__cause__ = error.__cause__
    return copy


def in_agent_loop() -> bool:
    """Whether the running tool was called by one of CrewAI's agent loops (walks the stack: on errors only)."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.startswith(_AGENT_LOOPS):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def park(error: BaseException) -> str:
    """Park ``error`` for the next model call of this run to raise; return the placeholder the tool returns.

    Inside an :class:`~actguard_crewai.ActGuardCrewHooks` kickoff whose context the tool runs in, the kickoff also
    learns of it at once: it raises the error even if no model call follows (a ``result_as_answer`` tool).
    """
    install_hook()
    collected = _aborts.get()
    if collected is not None and error not in collected:
        collected.append(error)
    return _park(error)


def _abort_for_parked(context: Any) -> None:
    """The ``before_llm_call`` hook: raise the error parked under a placeholder in the call's messages; inside a
    CrewBudget kickoff that already aborted a call so, raise it again (CrewAI < 1.15.19 retries the task afresh)."""
    collected = _aborts.get()
    if collected:
        raise escalated(collected[0]) from collected[0]
    messages = getattr(context, "messages", None) or []
    error = parked_in(
        message.get("content") if isinstance(message, dict) else getattr(message, "content", None)
        for message in messages
    )
    if error is not None:
        if collected is not None:
            collected.append(error)
        raise escalated(error) from error


def install_hook() -> None:
    """Register the ``before_llm_call`` hook once per process."""
    global _installed
    with _lock:
        if _installed:
            return
        from crewai.hooks.dispatch import register

        register(InterceptionPoint.PRE_MODEL_CALL, _abort_for_parked)
        _installed = True
