"""guard_tool / guard_tools: pydantic-ai tools and toolsets with actguard's guards; refusals reach the model as
``ModelRetry`` (pydantic-ai's way of telling a model to try again), everything else reaches the caller."""

from __future__ import annotations

import contextvars
import copy
import dataclasses
import functools
import inspect
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from pydantic_ai import ModelRetry, Tool
from pydantic_ai.toolsets import AbstractToolset, WrapperToolset

import actguard
from actguard.exceptions import ConfigError
from actguard.refusals import RECOVERABLE, OnRefusal, check_on_refusal, returned_to_model

__all__ = ["ActGuardToolset", "guard_tool", "guard_tools"]

_MAX_TOOLS = 1024  # guarded callables a toolset keeps, one per tool name it has seen
_creating = threading.Lock()  # one guarded callable per toolset and name, even when two runs call it at once


def _retry_on_refusal(fn: Callable[..., Any], tool_name: str, mode: OnRefusal, is_async: bool) -> Callable[..., Any]:
    """``fn`` (sync or async, as it is) with the refusal rule applied: a recoverable refusal becomes ``ModelRetry``
    with the refusal's text; anything else propagates unchanged."""
    if is_async:

        @functools.wraps(fn)
        async def call_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except RECOVERABLE as exc:
                raise ModelRetry(returned_to_model(exc, tool_name, mode)) from exc

        return call_async

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RECOVERABLE as exc:
            raise ModelRetry(returned_to_model(exc, tool_name, mode)) from exc

    return call


def guard_tool(tool: Tool[Any] | Callable[..., Any], *, on_refusal: OnRefusal = "message", **guards: Any) -> Tool[Any]:
    """Return a pydantic-ai ``Tool`` whose calls pass through actguard's guards.

    Given a ``Tool``, the result is a copy keeping its name, description, JSON schema, retries and every other
    setting; only the function it calls changes. Given a plain function (taking a ``RunContext`` first or not, sync
    or async), the result is ``Tool(fn)`` guarded. Example::

        from pydantic_ai import Agent
        from actguard_pydantic_ai import guard_tool

        def delete_order(order_id: str) -> str:
            \"\"\"Delete an order by id.\"\"\"

        agent = Agent(model, tools=[guard_tool(delete_order, enforce=[actguard.RequireFact("order_id", "order_id")])])

    A refusal the model can recover from is raised as pydantic-ai's ``ModelRetry`` with the refusal's text naming
    the tool, so the model gets it as a retry prompt and the run goes on; it counts against the tool's ``retries``
    like any other ``ModelRetry`` (pydantic-ai ends the run with ``UnexpectedModelBehavior`` past them). Everything
    else (a spent budget, an unreachable store, configuration errors, the function's own exceptions) propagates to
    the caller of the run, as pydantic-ai does with a tool's exceptions.

    Args:
        tool: a pydantic-ai ``Tool`` or a plain function.
        on_refusal: ``"message"`` (default): a recoverable refusal reaches the model as a retry prompt;
            ``"raise"``: the actguard error propagates to the caller.
        **guards: keyword arguments of :func:`actguard.tool` (``rate_limit``, ``circuit_breaker``, ``timeout``,
            ``max_attempts``, ``idempotent``), plus ``prove`` and ``enforce``. Their state belongs to the tool's
            name (two tools never share it; pass ``name=...`` to share on purpose).

    Raises:
        ConfigError: for a ``tool`` that is neither, an unknown ``on_refusal``, or bad guard arguments.
    """
    mode = check_on_refusal(on_refusal, "guard_tool(on_refusal=...)")
    if not isinstance(tool, Tool):
        if not (inspect.isfunction(tool) or inspect.ismethod(tool)):
            raise ConfigError(f"guard_tool(tool=...) must be a pydantic-ai Tool or a function, got {tool!r}")
        tool = Tool(tool)
    schema = tool.function_schema
    guarded = actguard.tool(**{"name": tool.name, **guards})(schema.function)
    function = _retry_on_refusal(guarded, tool.name, mode, schema.is_async)
    wrapped = copy.copy(tool)
    wrapped.function = function
    wrapped.function_schema = dataclasses.replace(schema, function=function)
    return wrapped


def guard_tools(
    tools: Iterable[Tool[Any] | Callable[..., Any]] | AbstractToolset[Any],
    *,
    on_refusal: OnRefusal = "message",
    **guards: Any,
) -> Any:
    """Guard several tools with the same guards (each tool keeps its own guard state, under its name).

    Given a list of tools or functions: a list of :func:`guard_tool` results. Given a toolset (a
    ``FunctionToolset``, an MCP server, any ``AbstractToolset``): an :class:`ActGuardToolset` wrapping it, which
    guards every tool the toolset offers, including tools it only lists at run time.

    Raises:
        ConfigError: as :func:`guard_tool`.
    """
    if isinstance(tools, AbstractToolset):
        return ActGuardToolset(tools, on_refusal=on_refusal, guards=guards)
    return [guard_tool(t, on_refusal=on_refusal, **guards) for t in tools]


# The wrapped toolset's call being guarded: (name, arguments, context, tool), for the function the guards wrap.
_call: contextvars.ContextVar[tuple[str, dict[str, Any], Any, Any]] = contextvars.ContextVar(
    "actguard_pydantic_ai_tool_call"
)


@dataclasses.dataclass
class ActGuardToolset(WrapperToolset[Any]):
    """A toolset whose every tool call passes through actguard's guards (see :func:`guard_tools`).

    The guards see each call as a function named like the tool whose keyword parameters are the tool's JSON schema
    properties (rate-limit scopes, idempotency keys and custody rules read them by name).

    Attributes:
        wrapped: the toolset guarded.
        on_refusal: as in :func:`guard_tool`.
        guards: the keyword arguments of :func:`actguard.tool` applied to each tool, under its name.
    """

    on_refusal: OnRefusal = "message"
    guards: dict[str, Any] = dataclasses.field(default_factory=dict)
    _guarded: OrderedDict[str, Callable[..., Any]] = dataclasses.field(
        default_factory=OrderedDict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        check_on_refusal(self.on_refusal, "guard_tools(on_refusal=...)")
        actguard.tool(**{"name": "actguard_check", **self.guards})(_noop)  # bad guard arguments raise ConfigError now

    def _for(self, name: str, tool: Any) -> Callable[..., Any]:
        guarded = self._guarded.get(name)
        if guarded is not None:
            return guarded
        with _creating:
            guarded = self._guarded.get(name)
            if guarded is not None:
                return guarded
            properties = (getattr(getattr(tool, "tool_def", None), "parameters_json_schema", None) or {}).get(
                "properties"
            ) or {}
            params = [inspect.Parameter(str(p), inspect.Parameter.KEYWORD_ONLY, default=None) for p in properties]
            inner = self.wrapped

            async def call(**kwargs: Any) -> Any:
                name_, args, ctx, tool_ = _call.get()
                return await inner.call_tool(name_, args, ctx, tool_)

            call.__name__ = call.__qualname__ = name
            call.__module__ = "pydantic_ai.toolsets"
            call.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
            guarded = _retry_on_refusal(
                actguard.tool(**{"name": name, **self.guards})(call), name, self.on_refusal, True
            )
            self._guarded[name] = guarded
            while len(self._guarded) > _MAX_TOOLS:
                self._guarded.popitem(last=False)
        return guarded

    async def call_tool(self, name: str, tool_args: dict[str, Any], ctx: Any, tool: Any) -> Any:
        """Call the wrapped toolset's tool through the guards."""
        token = _call.set((name, tool_args, ctx, tool))
        try:
            return await self._for(name, tool)(**tool_args)
        finally:
            _call.reset(token)


def _noop(idempotency_key: str = "", **kwargs: Any) -> None:
    """Stands in for a toolset's tools (known only at run time) when the guard arguments are checked up front."""
    return None
