"""guard_tool / guard_tools: FunctionTools with actguard's guards; refusals returned to the model as the tool output."""

from __future__ import annotations

import contextvars
import copy
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from agents import FunctionTool, function_tool
from agents.tool import default_tool_error_function

import actguard
from actguard.exceptions import ActGuardError, ConfigError
from actguard.refusals import RECOVERABLE, OnRefusal, check_on_refusal, returned_to_model

__all__ = ["RECOVERABLE", "guard_tool", "guard_tools", "tool_function"]

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


def guard_tool(
    tool: FunctionTool | Callable[..., Any], *, on_refusal: OnRefusal = "message", **guards: Any
) -> FunctionTool:
    """Return a ``FunctionTool`` whose calls pass through actguard's guards.

    Given a ``FunctionTool``, the result is a copy keeping its name, description, JSON schema and every other
    setting; only ``on_invoke_tool`` changes. Given a plain function (sync or async), the result is
    ``function_tool(fn)`` with the guards around the function and the SDK's error handling outside them, so a
    ``circuit_breaker`` sees the function's failures while the model still gets the SDK's error text. Example::

        from agents import function_tool
        from actguard_openai_agents import guard_tool

        @function_tool
        def delete_order(order_id: str) -> str:
            \"\"\"Delete an order by id.\"\"\"

        delete_order = guard_tool(delete_order, enforce=[actguard.RequireFact("order_id", "order_id")])
        search = guard_tool(search_api, circuit_breaker={"name": "search_api", "max_fails": 3})  # a function

    A ``FunctionTool`` made by ``@function_tool`` turns its function's exceptions into text for the model before the
    guards can see them, so ``circuit_breaker`` on such a tool is refused at decoration: pass the function instead,
    or build the tool with ``failure_error_function=None``. For the same reason ``idempotent`` on such a tool keeps
    that error text as the key's result (a repeat is answered with it and not run again).

    Args:
        tool: a ``FunctionTool`` (as made by ``@function_tool``) or a plain function.
        on_refusal: ``"message"`` (default): a recoverable refusal (rate limited, circuit open, timed out, too many
            attempts, duplicate call, missing fact...) is returned to the model as the tool's output, with the
            error's ``to_prompt()`` text naming the tool, and the run goes on; ``"raise"``: the actguard error
            propagates. A spent budget, an unreachable store and configuration errors always propagate (the rule of
            :mod:`actguard.refusals`).
        **guards: keyword arguments of :func:`actguard.tool` (``rate_limit``, ``circuit_breaker``, ``timeout``,
            ``max_attempts``, ``idempotent``), plus ``prove`` and ``enforce``. Their state belongs to the tool's
            name (two tools never share it; pass ``name=...`` to share on purpose).

    Raises:
        ConfigError: for a ``tool`` that is neither, an unknown ``on_refusal``, bad guard arguments, or a
            ``circuit_breaker`` that could not see the tool's failures.
    """
    mode = check_on_refusal(on_refusal, "guard_tool(on_refusal=...)")
    if isinstance(tool, FunctionTool):
        return _guard_function_tool(tool, mode, guards)
    if inspect.isfunction(tool) or inspect.ismethod(tool):
        return _guard_function(tool, mode, guards)
    raise ConfigError(
        f"guard_tool(tool=...) must be an agents FunctionTool (from @function_tool) or a function, got {tool!r}"
    )


def _refusal_as_output(
    invoke: Callable[[Any, str], Awaitable[Any]],
    tool_name: str,
    mode: OnRefusal,
    on_error: Callable[[Any, Exception], Any] | None,
) -> Callable[[Any, str], Awaitable[Any]]:
    """An invoker around ``invoke``: recoverable refusals become the tool's output (``"message"``), other actguard
    errors (a spent budget, an unreachable store, configuration) propagate, and other errors go to ``on_error``
    (the SDK's error text) when given."""

    async def on_invoke_tool(context: Any, raw: str) -> Any:
        try:
            return await invoke(context, raw)
        except RECOVERABLE as exc:
            return returned_to_model(exc, tool_name, mode)
        except ActGuardError:
            raise
        except Exception as exc:
            if on_error is None:
                raise
            return on_error(context, exc)

    return on_invoke_tool


def _guard_function(fn: Callable[..., Any], mode: OnRefusal, guards: dict[str, Any]) -> FunctionTool:
    # The guards' state and refusals belong to the tool's name (function_tool names it after the function).
    guarded = actguard.tool(**{"name": fn.__name__, **guards})(fn) if guards else fn
    tool = function_tool(guarded, failure_error_function=None)  # errors reach the invoker below, past the guards
    tool.on_invoke_tool = _refusal_as_output(tool.on_invoke_tool, tool.name, mode, default_tool_error_function)
    return tool


def _guard_function_tool(tool: FunctionTool, mode: OnRefusal, guards: dict[str, Any]) -> FunctionTool:
    if guards.get("circuit_breaker") is not None and not _failures_visible(tool):
        raise ConfigError(
            f"guard_tool(circuit_breaker=...) on FunctionTool {tool.name!r} would never see a failure: the tool "
            "turns its exceptions into text for the model (its failure_error_function). Pass the plain function "
            "to guard_tool instead, or build the tool with function_tool(..., failure_error_function=None)."
        )
    original = tool.on_invoke_tool
    wrapped = copy.copy(tool)
    if not guards:
        return wrapped
    guarded = actguard.tool(**{"name": tool.name, **guards})(tool_function(tool, original))

    async def invoke(context: Any, raw: str) -> Any:
        try:
            args = json.loads(raw) if raw else {}
        except ValueError:
            args = None
        if not isinstance(args, dict):
            return await original(context, raw)  # the SDK reports malformed arguments to the model itself
        token = _call.set((context, raw))
        try:
            return await guarded(**args)
        finally:
            _call.reset(token)

    wrapped.on_invoke_tool = _refusal_as_output(invoke, tool.name, mode, None)
    return wrapped


def _failures_visible(tool: FunctionTool) -> bool:
    """Whether the tool's invoker lets its function's exceptions out (``failure_error_function=None``)."""
    if hasattr(tool, "_use_default_failure_error_function"):  # newer releases (0.16 has it) keep it on the tool
        return not tool._use_default_failure_error_function and getattr(tool, "_failure_error_function", 0) is None
    invoker = tool.on_invoke_tool  # older releases: a closure over the function_tool() argument
    code = getattr(invoker, "__code__", None)
    closure = getattr(invoker, "__closure__", None)
    if code is not None and closure and "failure_error_function" in code.co_freevars:
        return closure[code.co_freevars.index("failure_error_function")].cell_contents is None
    return False


def guard_tools(
    tools: Iterable[FunctionTool | Callable[..., Any]], *, on_refusal: OnRefusal = "message", **guards: Any
) -> list[FunctionTool]:
    """:func:`guard_tool` applied to each tool with the same guards (each tool keeps its own guard state)."""
    return [guard_tool(t, on_refusal=on_refusal, **guards) for t in tools]
