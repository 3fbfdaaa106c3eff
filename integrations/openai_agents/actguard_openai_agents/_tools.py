"""guard_tool / guard_tools: FunctionTools with actguard's guards; refusals returned to the model as the tool output."""

from __future__ import annotations

import contextvars
import copy
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from agents import FunctionTool

import actguard
from actguard.exceptions import ActGuardError, BudgetExceededError, ConfigError, GuardError, ToolGuardError

__all__ = ["RECOVERABLE", "guard_tool", "guard_tools", "tool_function"]

_REFUSAL_MODES = ("message", "raise")
RECOVERABLE: tuple[type[ActGuardError], ...] = (ToolGuardError, GuardError)
"""Refusals an agent can recover from (rate limited, circuit open, timeout, attempts, duplicate, missing fact...)."""

# The SDK's tool context and raw JSON arguments of the call being guarded, for the function the guards wrap.
_call: contextvars.ContextVar[tuple[Any, str]] = contextvars.ContextVar("actguard_openai_agents_tool_call")


def tool_function(tool: FunctionTool, invoke: Callable[[Any, str], Awaitable[Any]]) -> Callable[..., Any]:
    """An async function named like ``tool`` whose keyword parameters are its JSON schema's properties.

    actguard's guards read a tool's identity and arguments from a Python signature (rate-limit scopes, idempotency
    keys, custody rules); this gives them one. Called inside :func:`guard_tool`'s invoker, it runs ``invoke`` with the
    SDK's tool context and the raw arguments of the call.
    """
    properties = tool.params_json_schema.get("properties") or {}
    params = [inspect.Parameter(str(arg), inspect.Parameter.KEYWORD_ONLY, default=None) for arg in properties]

    async def call(**kwargs: Any) -> Any:
        context, raw = _call.get()
        return await invoke(context, raw)

    call.__name__ = call.__qualname__ = tool.name
    call.__module__ = "agents.tool"
    call.__doc__ = tool.description
    call.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return call


def guard_tool(tool: FunctionTool, *, on_refusal: str = "message", **guards: Any) -> FunctionTool:
    """Return a copy of a ``FunctionTool`` whose calls pass through actguard's guards.

    The copy keeps the tool's name, description, JSON schema and every other setting; only ``on_invoke_tool``
    changes. Example::

        from agents import function_tool
        from actguard_openai_agents import guard_tool

        @function_tool
        def delete_order(order_id: str) -> str:
            \"\"\"Delete an order by id.\"\"\"

        delete_order = guard_tool(delete_order, enforce=[actguard.RequireFact("order_id", "order_id")])

    Args:
        tool: a ``FunctionTool`` (as made by ``@function_tool``).
        on_refusal: ``"message"`` (default): a recoverable refusal (rate limited, circuit open, timed out, too many
            attempts, duplicate call, missing fact...) is returned to the model as the tool's output, with the
            error's ``to_prompt()`` text, and the run goes on; ``"raise"``: the actguard error propagates. A spent
            budget always propagates.
        **guards: keyword arguments of :func:`actguard.tool` (``rate_limit``, ``circuit_breaker``, ``timeout``,
            ``max_attempts``, ``idempotent``), plus ``prove`` and ``enforce``.

    Raises:
        ConfigError: for a ``tool`` that is not a ``FunctionTool``, an unknown ``on_refusal`` or bad guard arguments.
    """
    if not isinstance(tool, FunctionTool):
        raise ConfigError(f"guard_tool(tool=...) must be an agents FunctionTool (from @function_tool), got {tool!r}")
    if on_refusal not in _REFUSAL_MODES:
        raise ConfigError(f"guard_tool(on_refusal=...) must be one of {_REFUSAL_MODES}, got {on_refusal!r}")
    original = tool.on_invoke_tool
    if not guards:
        return copy.copy(tool)
    guarded = actguard.tool(**guards)(tool_function(tool, original))
    message = on_refusal == "message"

    async def on_invoke_tool(context: Any, raw: str) -> Any:
        try:
            args = json.loads(raw) if raw else {}
        except ValueError:
            args = None
        if not isinstance(args, dict):
            return await original(context, raw)  # the SDK reports malformed arguments to the model itself
        token = _call.set((context, raw))
        try:
            return await guarded(**args)
        except BudgetExceededError:
            raise
        except RECOVERABLE as exc:
            if message:
                return exc.to_prompt()
            raise
        finally:
            _call.reset(token)

    wrapped = copy.copy(tool)
    wrapped.on_invoke_tool = on_invoke_tool
    return wrapped


def guard_tools(tools: Iterable[FunctionTool], *, on_refusal: str = "message", **guards: Any) -> list[FunctionTool]:
    """:func:`guard_tool` applied to each tool with the same guards (each tool keeps its own guard state)."""
    return [guard_tool(t, on_refusal=on_refusal, **guards) for t in tools]
