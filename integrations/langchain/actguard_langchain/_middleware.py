"""ActGuardMiddleware: budget and tool guards for langchain v1 ``create_agent`` agents."""

from __future__ import annotations

import threading
import uuid
import warnings
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Annotated, Any, Literal, get_args

try:
    import langgraph.runtime as _langgraph_runtime
    from langchain.agents.middleware import AgentMiddleware, AgentState, ModelResponse
    from langchain.agents.middleware.types import PrivateStateAttr
    from langgraph.channels.untracked_value import UntrackedValue
    from langgraph.config import get_config
    from langgraph.types import Command
except ImportError as exc:  # pragma: no cover - exercised only without langchain v1
    raise ImportError(
        f'ActGuardMiddleware needs langchain >= 1.0 (create_agent middleware): pip install "langchain>=1.0" ({exc})'
    ) from exc
try:  # langchain >= 1.2.9: a model-call hook can update the run's state
    from langchain.agents.middleware import ExtendedModelResponse  # type: ignore[attr-defined,unused-ignore]

    _Extended: Any = ExtendedModelResponse
except ImportError:  # pragma: no cover - langchain 1.0 to 1.2.8
    _Extended = None
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool
from typing_extensions import NotRequired

from actguard import BudgetExceededError, BudgetGuard, LLMUsage, current_budget
from actguard.exceptions import ActGuardWarning, ConfigError
from actguard.refusals import RECOVERABLE, OnRefusal, check_on_refusal, returned_to_model
from actguard.runs import acheck_call, check_call, off_loop
from actguard_langchain._call import ModelCall
from actguard_langchain._handler import ActGuardCallbackHandler
from actguard_langchain._landing import with_landing_note
from actguard_langchain._tools import check_guards, guard_tool
from actguard_langchain._usage import call_id_of, model_of, usage_from_message

__all__ = ["ActGuardMiddleware", "OnExceeded"]

OnExceeded = Literal["raise", "end"]
"""``"raise"``: a spent budget raises ``BudgetExceededError`` out of the run; ``"end"``: the run ends with a message."""
_EXCEEDED_MODES: tuple[str, ...] = get_args(OnExceeded)

# langgraph >= 1.1.5: a node's runtime names the invocation config's run_id (Runtime.execution_info.run_id), which keys
# the run's budget when the middleware's handler is not in the callbacks. Before, nothing a node sees names it
# (langchain 1.0 to 1.2.10 require langgraph < 1.1).
_SEES_RUN_ID: bool = "run_id" in getattr(getattr(_langgraph_runtime, "ExecutionInfo", None), "__dataclass_fields__", {})


class ActGuardState(AgentState):  # type: ignore[type-arg,unused-ignore]
    """Agent state with the run's budget (private, and never checkpointed: it lasts one invocation)."""

    actguard_budget: NotRequired[Annotated[tuple[BudgetGuard, bool] | None, UntrackedValue, PrivateStateAttr]]
    """The run's budget, and whether the middleware's handler follows the run (then it meters the model calls)."""


class ActGuardMiddleware(AgentMiddleware):  # type: ignore[type-arg,unused-ignore]
    """Agent middleware for ``langchain.agents.create_agent``: a budget per agent run and guarded tool calls.

    - Around each model call (``wrap_model_call``, so no extra graph steps): first the run's budget is checked;
      once a limit is crossed the run raises :class:`~actguard.BudgetExceededError` (``on_exceeded="raise"``,
      the default) or ends with a final AI message saying why (``on_exceeded="end"``), and the model is not
      called again either way. Then the response's ``usage_metadata`` is metered into the run's budget (once per
      provider response id, so actguard's SDK meter or an :class:`ActGuardCallbackHandler` seeing the same call
      does not count it again).
    - Tool calls: ``tool_guards`` applies :func:`guard_tool` guards to the named tools, and recoverable refusals
      (rate limited, circuit open, missing fact...) raised by any tool come back to the model as an error
      ``ToolMessage`` with the error's ``to_prompt()`` text (``on_refusal="message"``).

    Each run gets its own :class:`~actguard.BudgetGuard` (an active ``BudgetGuard`` is charged and enforced too),
    read afterwards with :attr:`last_budget` or :meth:`budget_for`. Pass the middleware's :attr:`handler` in the
    invocation config too (``config={"callbacks": [mw.handler]}``) to meter model calls the agent loop does not see
    (a model used inside a tool, say): the run then has one budget, keyed by its root run id. Without the handler the
    budget is keyed by the config's ``run_id`` on langgraph >= 1.1.5 (before, by an id of its own: read it with
    :attr:`last_budget`, or pass the handler).

    A run resumed from a checkpointer (``agent.invoke(None, config)``) is a new run with a budget of its own: LangGraph
    skips ``before_agent`` then, so its first model call opens the budget and keeps it in the run's state for the
    next ones (langchain >= 1.2.9; before, each model call of a resumed run gets its own budget).

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
        **budget_options: further :class:`~actguard.BudgetGuard` options for each run's budget (``strict``,
            ``on_unknown_model``, ``fallback_price``, ``shared``, ``window``, ``store``), as for
            :class:`ActGuardCallbackHandler`.
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
        on_exceeded: OnExceeded = "raise",
        on_refusal: OnRefusal = "message",
        tool_guards: Mapping[str, Mapping[str, Any]] | None = None,
        **budget_options: Any,
    ) -> None:
        super().__init__()
        if on_exceeded not in _EXCEEDED_MODES:
            raise ConfigError(
                f"ActGuardMiddleware(on_exceeded=...) must be one of {_EXCEEDED_MODES}, got {on_exceeded!r}"
            )
        refusal_mode = check_on_refusal(on_refusal, "ActGuardMiddleware(on_refusal=...)")
        if handler is not None:
            if not isinstance(handler, ActGuardCallbackHandler):
                raise ConfigError(
                    f"ActGuardMiddleware(handler=...) must be an ActGuardCallbackHandler, got {handler!r}"
                )
            if any(v is not None for v in (user_id, usd_limit, token_limit, name)) or budget_options:
                raise ConfigError("ActGuardMiddleware: give user_id / limits / name / options to the handler, not both")
        self.handler = handler or ActGuardCallbackHandler(user_id, usd_limit, token_limit, name, **budget_options)
        self.on_exceeded: OnExceeded = on_exceeded
        self.on_refusal: OnRefusal = refusal_mode
        self._tool_guards: dict[str, dict[str, Any]] = {}
        for tool_name, guards in (tool_guards or {}).items():
            if not isinstance(tool_name, str) or not isinstance(guards, Mapping):
                raise ConfigError(
                    f"ActGuardMiddleware(tool_guards=...) must map tool names to dicts of guards, got {tool_name!r}"
                )
            check_guards(guards, f"ActGuardMiddleware(tool_guards={{{tool_name!r}: ...}})", tool_name)
            self._tool_guards[tool_name] = dict(guards)
        self._guarded: dict[str, tuple[BaseTool, BaseTool]] = {}
        self._lock = threading.Lock()

    # -- readings -------------------------------------------------------------------------------------------
    @property
    def last_budget(self) -> BudgetGuard | None:
        """The budget of the most recently started run (use :meth:`budget_for` with concurrent runs)."""
        return self.handler.last_budget

    def budget_for(self, run_id: Hashable) -> BudgetGuard | None:
        """The budget of the run whose root run id is ``run_id`` (the ``run_id`` you put in the config).

        Before langgraph 1.1.5 the middleware alone cannot see the config's ``run_id`` (its handler in the
        invocation's callbacks can): a run id not found then warns with :class:`~actguard.exceptions.ActGuardWarning`.
        """
        guard = self.handler.budget_for(run_id)
        if guard is None and not _SEES_RUN_ID:
            warnings.warn(
                "ActGuardMiddleware.budget_for: before langgraph 1.1.5 the middleware cannot see the invocation "
                "config's run_id, so a run's budget is keyed by an id of its own; pass the middleware's handler in the "
                "invocation's callbacks too (config={'callbacks': [mw.handler], 'run_id': ...}), or read last_budget",
                ActGuardWarning,
                stacklevel=2,
            )
        return guard

    # -- the run's budget -----------------------------------------------------------------------------------
    def _open(self, runtime: Any) -> tuple[BudgetGuard, bool]:
        """The run's budget: the handler's for this root run when it follows the run, else a new one."""
        runs = self.handler.runs
        try:
            callbacks = get_config().get("callbacks")
        except RuntimeError:  # outside a graph run
            callbacks = None
        parent = getattr(callbacks, "parent_run_id", None)
        root = runs.root_of(parent) if parent is not None else None
        guard = runs.budget_for(root) if root is not None else None
        if guard is not None:
            return guard, True
        run_id = getattr(getattr(runtime, "execution_info", None), "run_id", None)
        return runs.open(uuid.UUID(str(run_id)) if run_id else uuid.uuid4()), False

    def before_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """Open the run's budget (kept in the run's state)."""
        return {"actguard_budget": self._open(runtime)}

    async def abefore_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """Open the run's budget (kept in the run's state)."""
        return self.before_agent(state, runtime)

    def _budget(self, request: Any) -> tuple[tuple[BudgetGuard, bool], bool]:
        """The run's budget, and whether it was opened now (a run resumed from a checkpointer skips ``before_agent``:
        its first model call opens its budget, and :func:`_kept` puts it in the run's state for its next calls)."""
        found = request.state.get("actguard_budget")
        if found is not None:
            return found, False
        return self._open(request.runtime), True

    def _before_call(self, request: Any, budget: tuple[BudgetGuard, bool]) -> tuple[ModelCall | None, AIMessage | None]:
        """Check the run's budget; return the call's metering (None: the handler meters it) or a stop message."""
        try:
            check_call([budget[0], current_budget()], _model_name(request))
        except BudgetExceededError as error:
            return None, self._stop(error)
        return self._metering(request, budget), None

    async def _abefore_call(
        self, request: Any, budget: tuple[BudgetGuard, bool]
    ) -> tuple[ModelCall | None, AIMessage | None]:
        """:meth:`_before_call` for async code: a shared budget's check runs off the event loop."""
        try:
            await acheck_call([budget[0], current_budget()], _model_name(request))
        except BudgetExceededError as error:
            return None, self._stop(error)
        return self._metering(request, budget), None

    def _stop(self, error: BudgetExceededError) -> AIMessage:
        """A spent budget: the message ending the run, or the error raised again."""
        if self.on_exceeded == "end":  # a final answer without tool calls ends the agent loop
            return AIMessage(content=f"Stopped: {error}")
        raise error

    @staticmethod
    def _metering(request: Any, budget: tuple[BudgetGuard, bool]) -> ModelCall | None:
        """The call's metering, entered here in the task's context (None: the handler that follows the run meters
        it)."""
        guard, followed = budget
        if followed:
            return None
        return ModelCall(guard, None, _model_name(request), getattr(request, "messages", None))

    @staticmethod
    def _reported(response: Any) -> list[tuple[LLMUsage, str | None]]:
        found: list[tuple[LLMUsage, str | None]] = []
        for message in response.result if hasattr(response, "result") else [response]:
            if isinstance(message, AIMessage):
                usage = usage_from_message(message, model_of(message, None, None), None)
                if usage is not None:
                    found.append((usage, call_id_of(message)))
        return found

    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        """Refuse the call once the run's budget is spent (raise or end the run); meter what it used."""
        budget, opened = self._budget(request)
        call, stop = self._before_call(request, budget)
        if stop is not None:
            return stop
        request = with_landing_note(request)
        if call is None:
            return _kept(handler(request), budget, opened)
        response = None
        try:
            response = handler(request)
        finally:
            call.close()
            call.settle(self._reported(response) if response is not None else [], _output_of(response))
        return _kept(response, budget, opened)

    async def awrap_model_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        """Refuse the call once the run's budget is spent (raise or end the run); meter what it used."""
        budget, opened = self._budget(request)
        call, stop = await self._abefore_call(request, budget)
        if stop is not None:
            return stop
        request = with_landing_note(request)
        if call is None:
            return _kept(await handler(request), budget, opened)
        response = None
        try:
            response = await handler(request)
        finally:
            call.close()
            reported = self._reported(response) if response is not None else []
            # Recording may settle a shared budget in its store: off the event loop then.
            await off_loop((call.run, call.scope), call.settle, reported, _output_of(response))
        return _kept(response, budget, opened)

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
        """The refusal as an error ToolMessage, or ``error`` raised again (the rule of :mod:`actguard.refusals`)."""
        name = request.tool_call.get("name")
        return ToolMessage(
            content=returned_to_model(error, name, self.on_refusal),
            tool_call_id=request.tool_call["id"],
            name=name,
            status="error",
        )

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        """Run the tool call through its guards; return recoverable refusals to the model."""
        try:
            return handler(self._prepare(request))
        except RECOVERABLE as error:
            return self._refusal(request, error)

    async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run the tool call through its guards; return recoverable refusals to the model."""
        try:
            return await handler(self._prepare(request))
        except RECOVERABLE as error:
            return self._refusal(request, error)


def _kept(response: Any, budget: tuple[BudgetGuard, bool], opened: bool) -> Any:
    """The response, with the budget opened by this call written to the run's state: the next model calls of a resumed
    run find it there, so the run has one budget (the state's budget is never checkpointed: it dies with the run).

    Before langchain 1.2.9 a model-call hook cannot update the state: each model call of a resumed run then gets a
    budget of its own (unless the middleware's handler follows the run, in the invocation's callbacks), and a
    per-run limit left unenforced that way is warned about.
    """
    if not opened:
        return response
    if _Extended is None:
        guard, followed = budget
        if not followed and (guard.usd_limit is not None or guard.token_limit is not None):
            warnings.warn(
                "ActGuardMiddleware: before langchain 1.2.9 a run resumed from a checkpointer gets a budget per model "
                "call, so its per-run limit does not add its calls up; upgrade langchain, or pass the middleware's "
                "handler in the invocation's callbacks",
                ActGuardWarning,
                stacklevel=3,
            )
        return response
    if not isinstance(response, ModelResponse):
        return response
    return _Extended(model_response=response, command=Command(update={"actguard_budget": budget}))


def _output_of(response: Any) -> Any:
    """The messages a model call returned (for an estimate when no layer reported its usage)."""
    if response is None:
        return None
    return [getattr(m, "content", None) for m in (response.result if hasattr(response, "result") else [response])]


def _model_name(request: Any) -> str | None:
    """The name of the request's chat model (``model_name`` / ``model``), for an estimate's price."""
    model = getattr(request, "model", None)
    for attr in ("model_name", "model"):
        name = getattr(model, attr, None)
        if isinstance(name, str) and name:
            return name
    return None
