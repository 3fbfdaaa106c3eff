"""ActGuardMiddleware: budget and tool guards for langchain v1 ``create_agent`` agents."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Annotated, Any, NotRequired

try:
    from langchain.agents.middleware import AgentMiddleware, AgentState, hook_config
    from langchain.agents.middleware.types import PrivateStateAttr
    from langgraph.channels.untracked_value import UntrackedValue
    from langgraph.config import get_config
except ImportError as exc:  # pragma: no cover - exercised only without langchain v1
    raise ImportError(
        f'ActGuardMiddleware needs langchain >= 1.0 (create_agent middleware): pip install "langchain>=1.0" ({exc})'
    ) from exc
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool

import actguard
from actguard import BudgetExceededError, BudgetGuard
from actguard.exceptions import ConfigError
from actguard.reporting import emit
from actguard_langchain._handler import ActGuardCallbackHandler
from actguard_langchain._tools import RECOVERABLE, guard_tool
from actguard_langchain._usage import call_id_of, model_of, usage_from_message

__all__ = ["ActGuardMiddleware"]

_EXCEEDED_MODES = ("raise", "end")
_REFUSAL_MODES = ("message", "raise")


class ActGuardState(AgentState):  # type: ignore[type-arg]
    """Agent state with the key of the run's budget (private, and not checkpointed: it lasts one invocation)."""

    actguard_run: NotRequired[Annotated[tuple[Hashable, bool] | None, UntrackedValue, PrivateStateAttr]]


class ActGuardMiddleware(AgentMiddleware):  # type: ignore[type-arg]
    """Agent middleware for ``langchain.agents.create_agent``: a budget per agent run and guarded tool calls.

    - Before each model call, the run's budget is checked: once a limit is crossed the run raises
      :class:`~actguard.BudgetExceededError` (``on_exceeded="raise"``, the default) or ends with a final AI
      message saying why (``on_exceeded="end"``). The model is not called again either way.
    - After each model call, the response's ``usage_metadata`` is metered into the run's budget (once per
      provider response id, so actguard's SDK meter or an :class:`ActGuardCallbackHandler` seeing the same call
      does not count it again).
    - Tool calls: ``tool_guards`` applies :func:`guard_tool` guards to the named tools, and recoverable refusals
      (rate limited, circuit open, missing fact...) raised by any tool come back to the model as an error
      ``ToolMessage`` with the error's ``to_prompt()`` text (``on_refusal="message"``).

    Each run gets its own :class:`~actguard.BudgetGuard` (nested in the active one, if any), read afterwards with
    :attr:`last_budget` or :meth:`budget_for`. Pass the middleware's :attr:`handler` in the invocation config too
    (``config={"callbacks": [mw.handler]}``) to meter model calls the agent loop does not see (a model used
    inside a tool, say): the run then has one budget, keyed by its root run id.

    Example::

        guard = ActGuardMiddleware(user_id="alice", usd_limit=0.50, tool_guards={"send_email": {"rate_limit": {
            "max_calls": 5, "period": 60}}})
        agent = create_agent(model, tools=[search, send_email], middleware=[guard])
        agent.invoke({"messages": [("user", "...")]})
        print(guard.last_budget.usd_used)

    Args:
        user_id: who the spend is for.
        usd_limit: per-run USD limit.
        token_limit: per-run token limit.
        name: a label for errors and events.
        handler: share the budgets of this :class:`ActGuardCallbackHandler` (then give the limits to it, not here).
        on_exceeded: ``"raise"`` or ``"end"`` (see above).
        on_refusal: ``"message"`` (refusals go to the model) or ``"raise"`` (they propagate).
        tool_guards: tool name -> keyword arguments of :func:`guard_tool` (``actguard.tool`` guards, ``prove``,
            ``enforce``).
    """

    state_schema = ActGuardState

    def __init__(
        self,
        user_id: str | None = None,
        usd_limit: float | None = None,
        token_limit: int | None = None,
        name: str | None = None,
        *,
        handler: ActGuardCallbackHandler | None = None,
        on_exceeded: str = "raise",
        on_refusal: str = "message",
        tool_guards: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        if on_exceeded not in _EXCEEDED_MODES:
            raise ConfigError(
                f"ActGuardMiddleware(on_exceeded=...) must be one of {_EXCEEDED_MODES}, got {on_exceeded!r}"
            )
        if on_refusal not in _REFUSAL_MODES:
            raise ConfigError(f"ActGuardMiddleware(on_refusal=...) must be one of {_REFUSAL_MODES}, got {on_refusal!r}")
        if handler is not None:
            if not isinstance(handler, ActGuardCallbackHandler):
                raise ConfigError(
                    f"ActGuardMiddleware(handler=...) must be an ActGuardCallbackHandler, got {handler!r}"
                )
            if any(v is not None for v in (user_id, usd_limit, token_limit, name)):
                raise ConfigError("ActGuardMiddleware: give user_id / limits / name to the handler, not both")
        self.handler = handler or ActGuardCallbackHandler(user_id, usd_limit, token_limit, name)
        self.on_exceeded = on_exceeded
        self.on_refusal = on_refusal
        self._tool_guards: dict[str, dict[str, Any]] = {}
        for tool_name, guards in (tool_guards or {}).items():
            if not isinstance(tool_name, str) or not isinstance(guards, Mapping):
                raise ConfigError(
                    f"ActGuardMiddleware(tool_guards=...) must map tool names to dicts of guards, got {tool_name!r}"
                )
            actguard.tool(**guards)  # validates now
            self._tool_guards[tool_name] = dict(guards)
        self._guarded: dict[str, tuple[BaseTool, BaseTool]] = {}
        self._lock = threading.Lock()

    # -- readings -------------------------------------------------------------------------------------------
    @property
    def last_budget(self) -> BudgetGuard | None:
        """The budget of the most recently started run (use :meth:`budget_for` with concurrent runs)."""
        return self.handler.last_budget

    def budget_for(self, run_id: Hashable) -> BudgetGuard | None:
        """The budget of the run whose root run id is ``run_id`` (the ``run_id`` you put in the config)."""
        return self.handler.budget_for(run_id)

    # -- the run's budget -----------------------------------------------------------------------------------
    def _open(self, runtime: Any) -> tuple[Hashable, bool]:
        """Find the run's key: the root run id when the handler follows this run, else a key of our own."""
        runs = self.handler.runs
        try:
            callbacks = get_config().get("callbacks")
        except RuntimeError:
            callbacks = None
        parent = getattr(callbacks, "parent_run_id", None)
        root = runs.root_of(parent) if parent is not None else None
        if root is not None:
            return root, False
        run_id = getattr(getattr(runtime, "execution_info", None), "run_id", None)
        key: Hashable = uuid.UUID(str(run_id)) if run_id else uuid.uuid4()
        runs.start(key, None)
        return key, True

    def _budget(self, state: Mapping[str, Any], runtime: Any) -> tuple[BudgetGuard, tuple[Hashable, bool]]:
        key = state.get("actguard_run") or self._open(runtime)
        guard = self.handler.runs.budget_for(key[0])
        if guard is None:  # evicted: start over rather than leave the run unmetered
            self.handler.runs.start(key[0], None)
            guard = self.handler.runs.budget_for(key[0])
            assert guard is not None
        return guard, key

    def before_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """Open the run's budget."""
        return {"actguard_run": self._open(runtime)}

    async def abefore_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """Open the run's budget."""
        return self.before_agent(state, runtime)

    @hook_config(can_jump_to=["end"])
    def before_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """Stop the run (raise or end) if its budget is spent."""
        guard, (key, owned) = self._budget(state, runtime)
        try:
            guard.check()
        except BudgetExceededError as error:
            emit("budget", "llm_call", "blocked", user_id=error.user_id, payload={"limit_type": error.limit_type})
            if self.on_exceeded == "end":
                return {"jump_to": "end", "messages": [AIMessage(content=f"Stopped: {error}")]}
            if owned:
                self.handler.runs.end(key)
            raise
        return None

    @hook_config(can_jump_to=["end"])
    async def abefore_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """Stop the run (raise or end) if its budget is spent."""
        return self.before_model(state, runtime)

    def after_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """Meter the model call's usage into the run's budget."""
        messages = state.get("messages") or []
        message = messages[-1] if messages else None
        if isinstance(message, AIMessage):
            usage = usage_from_message(message, model_of(message, None, None), None)
            if usage is not None:
                guard, _ = self._budget(state, runtime)
                guard.record(usage, call_id=call_id_of(message))
        return None

    async def aafter_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """Meter the model call's usage into the run's budget."""
        return self.after_model(state, runtime)

    def after_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """Close the run's budget (it stays readable)."""
        key = state.get("actguard_run")
        if key is not None and key[1]:
            self.handler.runs.end(key[0])
        return None

    async def aafter_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """Close the run's budget (it stays readable)."""
        return self.after_agent(state, runtime)

    # -- tools ----------------------------------------------------------------------------------------------
    def _prepare(self, request: Any) -> Any:
        tool = request.tool
        if tool is None or tool.name not in self._tool_guards:
            return request
        with self._lock:
            cached = self._guarded.get(tool.name)
            if cached is None or cached[0] is not tool:
                cached = (tool, guard_tool(tool, on_refusal=self.on_refusal, **self._tool_guards[tool.name]))
                self._guarded[tool.name] = cached
        return request.override(tool=cached[1])

    def _refusal(self, request: Any, error: Exception) -> ToolMessage:
        emit("tool", "refusal", "returned_to_model", tool=request.tool_call.get("name"))
        return ToolMessage(
            content=error.to_prompt() if hasattr(error, "to_prompt") else str(error),
            tool_call_id=request.tool_call["id"],
            name=request.tool_call.get("name"),
            status="error",
        )

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        """Run the tool call through its guards; return recoverable refusals to the model."""
        try:
            return handler(self._prepare(request))
        except RECOVERABLE as error:
            if self.on_refusal == "raise":
                raise
            return self._refusal(request, error)

    async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run the tool call through its guards; return recoverable refusals to the model."""
        try:
            return await handler(self._prepare(request))
        except RECOVERABLE as error:
            if self.on_refusal == "raise":
                raise
            return self._refusal(request, error)
