"""guard_tool / guard_tools: CrewAI tools with actguard's guards, refusals returned to the model as text."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

import actguard
from actguard.exceptions import ActGuardError, BudgetExceededError, ConfigError

__all__ = ["guard_tool", "guard_tools"]

_REFUSAL_MODES = ("message", "raise")


def _tool_function(tool: Any) -> Callable[..., Any]:
    """The callable behind a CrewAI tool: ``func`` of an ``@tool`` tool, else the bound ``_run`` of a BaseTool."""
    from crewai.tools import BaseTool

    if not isinstance(tool, BaseTool):
        raise ConfigError(f"guard_tool(tool=...) must be a CrewAI BaseTool or @tool tool, got {tool!r}")
    func = getattr(tool, "func", None)
    return func if callable(func) else tool._run


def guard_tool(tool: Any, *, on_refusal: str = "message", **guards: Any) -> Any:
    """Return a copy of a CrewAI tool whose calls pass through actguard's guards.

    The copy keeps the tool's name, description and args schema. Guards are those of :func:`actguard.tool`
    (``rate_limit``, ``circuit_breaker``, ``timeout``, ``max_attempts``, ``idempotent``) plus ``prove`` and
    ``enforce``. A recoverable refusal (rate limited, circuit open, missing fact, duplicate call...) is returned to
    the model as the tool's output with ``to_prompt()`` text, because CrewAI's own blocked-tool message drops the
    reason; with ``on_refusal="raise"`` it propagates instead. A spent budget always propagates.

    Args:
        tool: a ``crewai.tools.BaseTool`` (including tools made with ``@tool``).
        on_refusal: ``"message"`` (default) or ``"raise"``.
        **guards: keyword arguments of :func:`actguard.tool`, plus ``prove`` and ``enforce``.
    """
    if on_refusal not in _REFUSAL_MODES:
        raise ConfigError(f"guard_tool(on_refusal=...) must be one of {_REFUSAL_MODES}, got {on_refusal!r}")
    func = _tool_function(tool)
    guarded = actguard.tool(**guards)(func) if guards else func

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return guarded(*args, **kwargs)
        except BudgetExceededError:
            raise
        except ActGuardError as exc:
            if on_refusal == "raise":
                raise
            return exc.to_prompt()

    run.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
    from crewai.tools.base_tool import Tool

    return Tool(
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        func=run,
        result_as_answer=getattr(tool, "result_as_answer", False),
    )


def guard_tools(tools: Iterable[Any], *, on_refusal: str = "message", **guards: Any) -> list[Any]:
    """:func:`guard_tool` applied to each tool with the same guards (each tool keeps its own state)."""
    return [guard_tool(t, on_refusal=on_refusal, **guards) for t in tools]
