"""guard_tool / guard_tools: LlamaIndex ``FunctionTool`` s with actguard's guards; refusals returned to the model."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from llama_index.core.tools import BaseTool, FunctionTool, ToolOutput

import actguard
from actguard.exceptions import ConfigError, GuardError, ToolGuardError

__all__ = ["RECOVERABLE", "GuardedFunctionTool", "guard_tool", "guard_tools"]

_REFUSAL_MODES = ("message", "raise")
RECOVERABLE: tuple[type[Exception], ...] = (ToolGuardError, GuardError)
"""Refusals an agent can recover from (rate limited, circuit open, timeout, attempts, duplicate, missing fact...)."""
_HAS_PARTIAL_PARAMS = "partial_params" in inspect.signature(FunctionTool.__init__).parameters
_HAS_EXCEPTION_FIELD = "exception" in getattr(ToolOutput, "model_fields", {})  # llama-index-core >= 0.12.3x


class GuardedFunctionTool(FunctionTool):
    """A ``FunctionTool`` whose recoverable refusals come back as an error ``ToolOutput`` instead of raising.

    The output's ``content`` is the error's ``to_prompt()`` text (what was refused, why, and what the model can do
    about it), ``is_error`` is True, and the actguard error is in ``raw_output`` (and ``exception`` where
    LlamaIndex's ``ToolOutput`` has that field). Made by :func:`guard_tool`.
    """

    _actguard_on_refusal: str = "message"

    def call(self, *args: Any, **kwargs: Any) -> ToolOutput:
        """Call the tool through its guards."""
        try:
            return super().call(*args, **kwargs)
        except RECOVERABLE as exc:
            if self._actguard_on_refusal == "raise":
                raise
            return self._refusal(exc, args, kwargs)

    async def acall(self, *args: Any, **kwargs: Any) -> ToolOutput:
        """Call the tool through its guards (async)."""
        try:
            return await super().acall(*args, **kwargs)
        except RECOVERABLE as exc:
            if self._actguard_on_refusal == "raise":
                raise
            return self._refusal(exc, args, kwargs)

    def _refusal(self, exc: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ToolOutput:
        extra: dict[str, Any] = {"exception": exc} if _HAS_EXCEPTION_FIELD else {}
        ctx_name = getattr(self, "ctx_param_name", None)  # not on llama-index-core 0.12 (its context arg is `ctx`)
        shown = {k: v for k, v in kwargs.items() if k not in (ctx_name, "ctx")}
        return ToolOutput(
            content=exc.to_prompt() if hasattr(exc, "to_prompt") else str(exc),
            tool_name=self.metadata.name or "",
            raw_input={"args": args, "kwargs": shown},
            raw_output=exc,
            is_error=True,
            **extra,
        )


def _delegates(tool: BaseTool) -> tuple[Callable[..., Any] | None, Callable[..., Any] | None]:
    """The sync and async functions behind ``tool``: its own for a ``FunctionTool``, else calls through the tool."""
    if isinstance(tool, FunctionTool):
        fn, afn = tool.fn, tool.async_fn
        # Leave out LlamaIndex's own sync<->async shims: the guards wrap the functions the user wrote.
        sync = None if getattr(fn, "__name__", "") == "_sync_wrapped_fn" else fn
        coroutine = None if getattr(afn, "__name__", "") == "_async_wrapped_fn" else afn
        return (sync, coroutine) if sync is not None or coroutine is not None else (fn, afn)
    schema = tool.metadata.fn_schema
    names = list(getattr(schema, "model_fields", {}) or {})
    params = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY) for name in names]
    signature = inspect.Signature(params)

    def run(**kwargs: Any) -> Any:
        return tool(**kwargs).content

    async def arun(**kwargs: Any) -> Any:
        acall = getattr(tool, "acall", None)
        output = await acall(**kwargs) if acall is not None else tool(**kwargs)
        return output.content

    for fn in (run, arun):
        fn.__name__ = fn.__qualname__ = tool.metadata.name or "tool"
        fn.__doc__ = tool.metadata.description
        fn.__signature__ = signature  # type: ignore[attr-defined]
    return run, arun


def _in_executor(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a sync function off the event loop in a copy of the caller's context (session, run and budget follow)."""

    @functools.wraps(fn)
    async def run(*args: Any, **kwargs: Any) -> Any:
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(context.run, fn, *args, **kwargs)
        )

    return run


def guard_tool(tool: Any, *, on_refusal: str = "message", **guards: Any) -> GuardedFunctionTool:
    """Return a ``FunctionTool`` that runs ``tool`` through actguard's guards, with the same name, description and
    argument schema.

    Example::

        from actguard_llamaindex import guard_tool

        send = guard_tool(send_email, rate_limit={"max_calls": 5, "period": 60, "scope": "user_id"})
        delete = guard_tool(delete_order, enforce=[actguard.RequireFact("order_id", "order_id")])
        agent = FunctionAgent(tools=[send, delete], llm=llm)

    Args:
        tool: a ``FunctionTool``, another LlamaIndex ``BaseTool`` (called through its ``call`` / ``acall``), or a
            plain function (sync or async).
        on_refusal: ``"message"`` (default): a recoverable refusal (rate limited, circuit open, timed out, too many
            attempts, duplicate call, missing fact...) comes back to the model as an error ``ToolOutput`` whose text
            is the error's ``to_prompt()``, and the run goes on; ``"raise"``: the actguard error propagates (a
            LlamaIndex agent then shows the model its plain message). A spent budget always propagates.
        **guards: keyword arguments of :func:`actguard.tool` (``rate_limit``, ``circuit_breaker``, ``timeout``,
            ``max_attempts``, ``idempotent``, ``prove``, ``enforce``).

    Raises:
        ConfigError: for an unknown ``on_refusal``, a value that is not a tool, or bad guard arguments.
    """
    if on_refusal not in _REFUSAL_MODES:
        raise ConfigError(f"guard_tool(on_refusal=...) must be one of {_REFUSAL_MODES}, got {on_refusal!r}")
    if isinstance(tool, BaseTool):
        base = tool
    elif callable(tool):
        base = FunctionTool.from_defaults(tool)
    else:
        raise ConfigError(f"guard_tool(tool=...) must be a LlamaIndex tool or a function, got {tool!r}")
    func, coroutine = _delegates(base)
    decorate: Callable[[Callable[..., Any]], Callable[..., Any]] = actguard.tool(**guards) if guards else _same
    sync_fn = decorate(func) if func is not None else None
    async_fn = decorate(coroutine) if coroutine is not None else None
    if async_fn is None and sync_fn is not None:
        async_fn = _in_executor(sync_fn)
    guarded = GuardedFunctionTool(
        fn=sync_fn,
        async_fn=async_fn,
        metadata=base.metadata,
        callback=getattr(base, "_callback", None),
        async_callback=getattr(base, "_async_callback", None),
        **({"partial_params": base.partial_params} if _HAS_PARTIAL_PARAMS and isinstance(base, FunctionTool) else {}),
    )
    guarded._actguard_on_refusal = on_refusal
    return guarded


def guard_tools(tools: Iterable[Any], *, on_refusal: str = "message", **guards: Any) -> list[GuardedFunctionTool]:
    """:func:`guard_tool` applied to each tool with the same guards (each tool keeps its own guard state)."""
    return [guard_tool(t, on_refusal=on_refusal, **guards) for t in tools]


def _same(fn: Callable[..., Any]) -> Callable[..., Any]:
    return fn
