"""guard_tool / guard_tools: LlamaIndex ``FunctionTool`` s with actguard's guards; refusals returned to the model.

A refusal travels as a small marker object returned by the guarded function; the tool's ``callback`` (FunctionTool's
own extension point for replacing its output) turns it into an error ``ToolOutput``. No FunctionTool subclass: a
subclass overriding ``call`` / ``acall`` would get a second instrumentation span per call from LlamaIndex.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from llama_index.core.tools import BaseTool, FunctionTool, ToolOutput

import actguard
from actguard.exceptions import ActGuardError, ConfigError
from actguard.refusals import RECOVERABLE, OnRefusal, check_on_refusal, is_recoverable, park, returned_to_model
from actguard_llamaindex._handler import in_guarded_run

__all__ = ["RECOVERABLE", "guard_tool", "guard_tools"]
_HAS_PARTIAL_PARAMS = "partial_params" in inspect.signature(FunctionTool.__init__).parameters
_HAS_EXCEPTION_FIELD = "exception" in getattr(ToolOutput, "model_fields", {})  # not on llama-index-core 0.12


class _Refusal:
    """What a guarded function returns instead of raising a recoverable refusal (the callback unwraps it)."""

    __slots__ = ("error", "kwargs", "text")

    def __init__(self, error: Exception, text: str, kwargs: dict[str, Any]) -> None:
        self.error = error
        self.text = text
        self.kwargs = kwargs

    def __str__(self) -> str:
        return self.text

    def output(self, tool_name: str) -> ToolOutput:
        extra: dict[str, Any] = {"exception": self.error} if _HAS_EXCEPTION_FIELD else {}
        shown = {k: v for k, v in self.kwargs.items() if k != "ctx" and type(v).__name__ != "Context"}
        return ToolOutput(
            content=str(self),
            tool_name=tool_name,
            raw_input={"args": (), "kwargs": shown},
            raw_output=self.error,
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
    signature = inspect.Signature([inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY) for name in names])

    def run(**kwargs: Any) -> Any:
        return tool(**kwargs).content

    async def arun(**kwargs: Any) -> Any:
        acall = getattr(tool, "acall", None)
        output = await acall(**kwargs) if acall is not None else tool(**kwargs)
        return output.content

    for fn in (run, arun):
        fn.__name__ = fn.__qualname__ = tool.metadata.name or "tool"
        fn.__doc__ = tool.metadata.description
        fn.__signature__ = signature  # type: ignore[union-attr]
    return run, arun


def _in_executor(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a sync function off the event loop in a copy of the caller's context (session, run and budget follow;
    llama-index-core 0.12's own executor shim drops them)."""

    @functools.wraps(fn)
    async def run(*args: Any, **kwargs: Any) -> Any:
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(context.run, fn, *args, **kwargs)
        )

    return run


def _refusal(error: ActGuardError, tool_name: str, mode: OnRefusal, kwargs: dict[str, Any]) -> _Refusal:
    """A recoverable refusal's text for the model; else, inside an ActGuardCallbackHandler run, a placeholder while the
    error waits for the run's next LLM call to raise it (LlamaIndex's agents show a tool's exception to the model);
    else the error is raised again."""
    if mode == "message" and is_recoverable(error):
        return _Refusal(error, returned_to_model(error, tool_name, mode), kwargs)
    if in_guarded_run():
        return _Refusal(error, park(error), kwargs)
    raise error


def _refusing(fn: Callable[..., Any], tool_name: str, mode: OnRefusal) -> Callable[..., Any]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ActGuardError as exc:
            return _refusal(exc, tool_name, mode, kwargs)

    return run


def _arefusing(fn: Callable[..., Any], tool_name: str, mode: OnRefusal) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except ActGuardError as exc:
            return _refusal(exc, tool_name, mode, kwargs)

    return run


def _callbacks(base: BaseTool, name: str) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """FunctionTool callbacks that turn a refusal into an error ToolOutput and run the tool's own callbacks else."""
    own = getattr(base, "_callback", None)
    aown = getattr(base, "_async_callback", None)

    def callback(raw_output: Any) -> Any:
        if isinstance(raw_output, _Refusal):
            return raw_output.output(name)
        return own(raw_output) if own is not None else None

    async def async_callback(raw_output: Any) -> Any:
        if isinstance(raw_output, _Refusal):
            return raw_output.output(name)
        if aown is not None:
            return await aown(raw_output)
        return own(raw_output) if own is not None else None

    return callback, async_callback


def guard_tool(tool: Any, *, on_refusal: OnRefusal = "message", **guards: Any) -> FunctionTool:
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
            attempts, duplicate call, missing fact...) comes back as an error ``ToolOutput`` (``is_error=True``)
            whose content is the error's ``to_prompt()`` text naming the tool and whose ``raw_output`` is the
            actguard error; the model sees it and the run goes on. ``"raise"``: the actguard error reaches the
            caller. A spent budget, an unreachable store and configuration errors always do (the rule of
            :mod:`actguard.refusals`). LlamaIndex's agents show a tool's exception to the model, so inside
            :meth:`ActGuardCallbackHandler.run` the tool returns a placeholder and the run's next LLM call raises it
            before the model is called; outside it the error propagates from the tool as it is.
        **guards: keyword arguments of :func:`actguard.tool` (``rate_limit``, ``circuit_breaker``, ``timeout``,
            ``max_attempts``, ``idempotent``, ``prove``, ``enforce``). Their state belongs to the tool's name (two
            tools never share it; pass ``name=...`` to share on purpose).

    Raises:
        ConfigError: for an unknown ``on_refusal``, a value that is not a tool, or bad guard arguments.
    """
    mode = check_on_refusal(on_refusal, "guard_tool(on_refusal=...)")
    if isinstance(tool, BaseTool):
        base = tool
    elif callable(tool):
        base = FunctionTool.from_defaults(tool)
    else:
        raise ConfigError(f"guard_tool(tool=...) must be a LlamaIndex tool or a function, got {tool!r}")
    func, coroutine = _delegates(base)
    tool_name = str(base.metadata.name or getattr(func or coroutine, "__name__", "tool"))
    named = {"name": tool_name} if guards else {}
    decorate: Callable[[Callable[..., Any]], Callable[..., Any]] = (
        actguard.tool(**{**named, **guards}) if guards else _same
    )
    sync_fn = async_fn = None
    if func is not None:
        sync_fn = _refusing(decorate(func), tool_name, mode)
    if coroutine is not None:
        async_fn = _arefusing(decorate(coroutine), tool_name, mode)
    elif sync_fn is not None:
        async_fn = _in_executor(sync_fn)
    callback, async_callback = _callbacks(base, tool_name)
    extra: dict[str, Any] = {}
    if _HAS_PARTIAL_PARAMS and isinstance(base, FunctionTool):
        extra["partial_params"] = getattr(base, "partial_params", None)  # not on llama-index-core 0.12
    return FunctionTool(
        fn=sync_fn, async_fn=async_fn, metadata=base.metadata, callback=callback, async_callback=async_callback, **extra
    )


def guard_tools(tools: Iterable[Any], *, on_refusal: OnRefusal = "message", **guards: Any) -> list[FunctionTool]:
    """:func:`guard_tool` applied to each tool with the same guards (each tool keeps its own guard state)."""
    return [guard_tool(t, on_refusal=on_refusal, **guards) for t in tools]


def _same(fn: Callable[..., Any]) -> Callable[..., Any]:
    return fn
