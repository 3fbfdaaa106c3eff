"""guard_tool / guard_tools: CrewAI tools with actguard's guards, refusals returned to the model as text."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

import actguard
from actguard.exceptions import ActGuardError, ConfigError
from actguard.refusals import OnRefusal, check_on_refusal, is_recoverable, returned_to_model
from actguard_crewai._escalate import in_agent_loop, install_hook, park

__all__ = ["guard_tool", "guard_tools"]


def _tool_function(tool: Any) -> Callable[..., Any]:
    """The callable behind a CrewAI tool: ``func`` of an ``@tool`` tool, else the bound ``_run`` of a BaseTool."""
    from crewai.tools import BaseTool

    if not isinstance(tool, BaseTool):
        raise ConfigError(f"guard_tool(tool=...) must be a CrewAI BaseTool or @tool tool, got {tool!r}")
    func = getattr(tool, "func", None)
    return func if callable(func) else tool._run


def guard_tool(tool: Any, *, on_refusal: OnRefusal = "message", **guards: Any) -> Any:
    """Return a copy of a CrewAI tool whose calls pass through actguard's guards.

    The copy keeps the tool's name, description and args schema. Guards are those of :func:`actguard.tool`
    (``rate_limit``, ``circuit_breaker``, ``timeout``, ``max_attempts``, ``idempotent``) plus ``prove`` and
    ``enforce``; their state belongs to the tool's name (two tools never share it; pass ``name=...`` to share on
    purpose). A recoverable refusal (rate limited, circuit open, missing fact, duplicate call...) is returned to
    the model as the tool's output with ``to_prompt()`` text naming the tool, because CrewAI's own blocked-tool
    message drops the reason. Everything else actguard raises (a spent budget, an unreachable store, configuration
    errors; and recoverable refusals too with ``on_refusal="raise"``) reaches the caller of ``kickoff``, never the
    model: CrewAI would put a tool's exception in the next prompt, so the model call after the tool is aborted
    with the error instead (see :mod:`actguard_crewai._escalate`).

    Args:
        tool: a ``crewai.tools.BaseTool`` (including tools made with ``@tool``).
        on_refusal: ``"message"`` (default) or ``"raise"``.
        **guards: keyword arguments of :func:`actguard.tool`, plus ``prove`` and ``enforce``.
    """
    mode = check_on_refusal(on_refusal, "guard_tool(on_refusal=...)")
    func = _tool_function(tool)
    tool_name: str = tool.name
    guarded = actguard.tool(**{"name": tool_name, **guards})(func) if guards else func
    install_hook()  # now, not at the first failure: registering hooks while CrewAI dispatches them is not safe

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return guarded(*args, **kwargs)
        except ActGuardError as exc:
            if mode == "message" and is_recoverable(exc):
                return returned_to_model(exc, tool_name, mode)
            if in_agent_loop():
                return park(exc)
            raise

    run.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
    from crewai.tools.base_tool import Tool

    return Tool(
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        func=run,
        result_as_answer=getattr(tool, "result_as_answer", False),
    )


def guard_tools(tools: Iterable[Any], *, on_refusal: OnRefusal = "message", **guards: Any) -> list[Any]:
    """:func:`guard_tool` applied to each tool with the same guards (each tool keeps its own state)."""
    return [guard_tool(t, on_refusal=on_refusal, **guards) for t in tools]
