"""guard_tool / guard_tools: LangChain tools with actguard's guards; refusals returned to the model."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, Tool, ToolException

import actguard
from actguard.exceptions import ConfigError
from actguard.refusals import RECOVERABLE, OnRefusal, check_on_refusal, returned_to_model

__all__ = ["RECOVERABLE", "GuardRefusal", "check_guards", "guard_tool", "guard_tools"]

_GUARDS = frozenset(
    name for name, p in inspect.signature(actguard.tool).parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
)


class GuardRefusal(ToolException):
    """A recoverable refusal on its way to the model: LangChain turns it into an error ``ToolMessage``.

    Attributes:
        error: the actguard error (``ToolGuardError`` or ``GuardError``).
    """

    def __init__(self, error: Exception, text: str) -> None:
        self.error = error
        super().__init__(text)


def check_guards(
    guards: Mapping[str, Any], where: str, tool_name: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Validate guard arguments now (a ConfigError names what is wrong); return the decorator they make.

    The guards' state and refusals are those of ``tool_name`` (the tool's name as the model sees it) unless the
    guards name another (``name=...``, to share state on purpose).
    """
    unknown = sorted(set(guards) - _GUARDS)
    if unknown:
        raise ConfigError(f"{where}: unknown guard(s) {unknown}; accepted: {sorted(_GUARDS)}")
    if not guards:
        return _same
    named = {"name": tool_name} if tool_name else {}
    return actguard.tool(**{**named, **guards})


def _as_tool(tool: Any) -> BaseTool:
    if isinstance(tool, BaseTool):
        return tool
    if callable(tool):
        if inspect.iscoroutinefunction(tool):
            return StructuredTool.from_function(coroutine=tool)
        return StructuredTool.from_function(tool)
    raise ConfigError(f"guard_tool(tool=...) must be a LangChain BaseTool, @tool tool or a function, got {tool!r}")


def _delegates(tool: BaseTool) -> tuple[Callable[..., Any] | None, Callable[..., Any] | None]:
    """The sync and async callables behind ``tool``: its function(s), else calls through the tool itself."""
    func = getattr(tool, "func", None)
    coroutine = getattr(tool, "coroutine", None)
    if callable(func) or callable(coroutine):
        return (func if callable(func) else None), (coroutine if callable(coroutine) else None)
    # A BaseTool subclass with its own _run/_arun: call it with the model's arguments, under this run's callbacks.
    params = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY) for name in tool.args]
    params.append(inspect.Parameter("callbacks", inspect.Parameter.KEYWORD_ONLY, default=None))
    signature = inspect.Signature(params)

    def run(*, callbacks: Any = None, **kwargs: Any) -> Any:
        return tool.run(kwargs, callbacks=callbacks)

    async def arun(*, callbacks: Any = None, **kwargs: Any) -> Any:
        return await tool.arun(kwargs, callbacks=callbacks)

    for fn in (run, arun):
        fn.__name__ = fn.__qualname__ = tool.name
        fn.__doc__ = tool.description
        setattr(fn, "__signature__", signature)  # noqa: B010 - a function attribute mypy does not know
    return run, arun


def _handler_for(original: Any) -> Callable[[ToolException], str]:
    """``handle_tool_error`` for the guarded tool: refusals become their text; other errors as the tool had it."""

    def handle(error: ToolException) -> str:
        if isinstance(error, GuardRefusal):
            return str(error)
        if not original:
            raise error
        if isinstance(original, str):
            return original
        if callable(original):
            return str(original(error))
        return str(error.args[0]) if error.args else "Tool execution error"

    return handle


def guard_tool(tool: Any, *, on_refusal: OnRefusal = "message", **guards: Any) -> BaseTool:
    """Return a tool that runs ``tool`` through actguard's guards, with the same name, description and args schema.

    Example::

        from actguard_langchain import guard_tool

        send = guard_tool(send_email, rate_limit={"max_calls": 5, "period": 60, "scope": "user_id"})
        delete = guard_tool(delete_order, enforce=[actguard.RequireFact("order_id", "order_id")])

    Args:
        tool: a ``BaseTool`` (``@tool`` tools and ``StructuredTool`` included) or a plain function (sync or async).
        on_refusal: ``"message"`` (default): a recoverable refusal (rate limited, circuit open, timed out, too many
            attempts, duplicate call, missing fact...) reaches the model as an error ``ToolMessage`` whose text is
            the error's ``to_prompt()`` naming the tool, and the run goes on; ``"raise"``: the actguard error
            propagates. A spent budget, an unreachable store and configuration errors always propagate (the rule
            of :mod:`actguard.refusals`).
        **guards: keyword arguments of :func:`actguard.tool` (``rate_limit``, ``circuit_breaker``, ``timeout``,
            ``max_attempts``, ``idempotent``), plus ``prove`` and ``enforce``. Their state belongs to the tool's
            name (two tools never share it; pass ``name=...`` to share on purpose).

    Raises:
        ConfigError: for an unknown ``on_refusal``, a value that is not a tool, or bad guard arguments.
    """
    mode = check_on_refusal(on_refusal, "guard_tool(on_refusal=...)")
    base = _as_tool(tool)
    decorate = check_guards(guards, "guard_tool", base.name)
    func, coroutine = _delegates(base)
    tool_name = base.name

    sync_fn: Callable[..., Any] | None = None
    async_fn: Callable[..., Any] | None = None
    if func is not None:
        guarded = decorate(func)

        @functools.wraps(func)
        def sync_fn(*args: Any, **kwargs: Any) -> Any:
            try:
                return guarded(*args, **kwargs)
            except RECOVERABLE as exc:
                raise GuardRefusal(exc, returned_to_model(exc, tool_name, mode)) from exc

    if coroutine is not None:
        aguarded = decorate(coroutine)

        @functools.wraps(coroutine)
        async def async_fn(*args: Any, **kwargs: Any) -> Any:
            try:
                return await aguarded(*args, **kwargs)
            except RECOVERABLE as exc:
                raise GuardRefusal(exc, returned_to_model(exc, tool_name, mode)) from exc

    # A single-input ``Tool`` stays a ``Tool``; every other tool becomes a ``StructuredTool`` with its args schema.
    extra: dict[str, Any] = {} if isinstance(base, Tool) else {"args_schema": base.args_schema}
    cls: type[BaseTool] = Tool if isinstance(base, Tool) else StructuredTool
    return cls(
        name=base.name,
        description=base.description,
        **extra,
        func=sync_fn,
        coroutine=async_fn,
        return_direct=base.return_direct,
        response_format=getattr(base, "response_format", "content"),
        handle_tool_error=_handler_for(base.handle_tool_error),
        handle_validation_error=base.handle_validation_error,
        tags=base.tags,
        metadata=base.metadata,
        callbacks=base.callbacks,
        verbose=base.verbose,
    )


def guard_tools(tools: Iterable[Any], *, on_refusal: OnRefusal = "message", **guards: Any) -> list[BaseTool]:
    """:func:`guard_tool` applied to each tool with the same guards (each tool keeps its own guard state)."""
    return [guard_tool(t, on_refusal=on_refusal, **guards) for t in tools]


def _same(fn: Callable[..., Any]) -> Callable[..., Any]:
    return fn
