"""ActGuardCallbackHandler: meter every LLM call of a LlamaIndex run, stop the run before the next call once spent.

How it hooks in (and why not the instrumentation dispatcher): LlamaIndex's instrumentation dispatcher swallows every
error its handlers raise, so it can meter but never stop a run. Every LLM call (chat, completion, streaming, sync
and async) also goes through the LLM's *callback manager*, whose ``on_event_start`` is called right before the
provider is reached and lets errors through. So the handler is a callback handler: at the start of an LLM event it
runs ``BudgetGuard.check_call``, which raises :class:`~actguard.BudgetExceededError` (an ``Exception``, never a
``BaseException``, which would hang ``stream_events()``) when the active budget or an enclosing one is spent; at the
end it records the response's usage.

Which budget: the active :class:`~actguard.BudgetGuard` of the task making the call. Workflow steps run in tasks
created by ``workflow.run(...)`` (LlamaIndex's default runtime, in every version tested), so they see the budget
active where ``run`` was called. :meth:`ActGuardCallbackHandler.run` starts a workflow under a fresh budget (nested
in the active one), which is how each top-level run gets its own budget.
"""

from __future__ import annotations

import contextvars
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload
from llama_index.core.callbacks.base_handler import BaseCallbackHandler

from actguard import BudgetGuard, current_budget
from actguard.exceptions import ActGuardWarning, ConfigError
from actguard.refusals import parked_in
from actguard.runs import RunBudgets, check_call
from actguard_llamaindex._calls import call_key
from actguard_llamaindex._usage import model_of, provider_of, usage_of

__all__ = [
    "ActGuardCallbackHandler",
    "ActGuardHandler",
    "in_guarded_run",
    "install",
    "instrument",
    "uninstall",
    "uninstrument",
]

# Set inside ActGuardCallbackHandler.run (the workflow's tasks copy it): the handler sees every LLM call of the run,
# so a guarded tool may park an error for the caller there (LlamaIndex's agents would show a raised one to the model).
_guarded_run: contextvars.ContextVar[bool] = contextvars.ContextVar("actguard_llamaindex_run", default=False)


def in_guarded_run() -> bool:
    """Whether the current task belongs to a run started with :meth:`ActGuardCallbackHandler.run`."""
    return _guarded_run.get()


_MAX_LIVE_CALLS = 100_000  # LLM events between start and end (an abandoned stream never ends)


class ActGuardCallbackHandler(BaseCallbackHandler):
    """A LlamaIndex callback handler that meters LLM calls into a budget and refuses calls once it is spent.

    One line per run: :meth:`run` starts a workflow (a ``FunctionAgent``, ``AgentWorkflow``... anything with
    ``.run(...)``) under a fresh :class:`~actguard.BudgetGuard` with this handler's limits, after adding the handler
    to the callback managers of the workflow's LLMs::

        guard = ActGuardCallbackHandler(user_id="alice", usd_limit=0.05)
        handler = guard.run(agent, user_msg="Refund order o1")
        async for event in handler.stream_events():
            ...
        try:
            result = await handler
        except actguard.BudgetExceededError as exc:  # llama-index-core < 0.14: wrapped, see below
            print("stopped:", exc)
        print(guard.budget_for(handler).usd_used)

    Each run's budget nests in the ``BudgetGuard`` active where :meth:`run` is called (the enclosing guard is charged
    too and enforces its own limits). Without :meth:`run`, an instrumented LLM (:func:`instrument`, :func:`install`)
    charges and enforces whatever ``BudgetGuard`` is active, and does nothing outside one.

    Usage comes from each response's ``raw`` provider response (cached and reasoning tokens included) or the token
    counts in ``additional_kwargs``; a stream is metered when it has been consumed, from its last chunk. Each call is
    recorded under the provider's response id, so a call also metered by actguard's SDK hook counts once. Once a
    limit is crossed, the next LLM call raises :class:`~actguard.BudgetExceededError` before it reaches the
    provider; the workflow fails with it and ``await handler`` raises it (before llama-index-core 0.14, LlamaIndex
    wraps a step's error in ``WorkflowRuntimeError``, the budget error being its ``__cause__``: :func:`budget_error`
    finds it either way).

    Args:
        user_id: who the spend is for.
        usd_limit: per-run USD limit (:meth:`run`).
        token_limit: per-run token limit (:meth:`run`).
        name: a label for errors and events.
        max_runs: how many runs' budgets stay readable with :meth:`budget_for` (oldest dropped first).
        **budget_options: further keyword arguments of :class:`~actguard.BudgetGuard` for each run's budget
            (``strict``, ``on_unknown_model``, ``fallback_price``, ``shared``, ``window``, ``store``).
    """

    def __init__(
        self,
        user_id: str | None = None,
        usd_limit: float | None = None,
        token_limit: int | None = None,
        name: str | None = None,
        *,
        max_runs: int = 1000,
        **budget_options: Any,
    ) -> None:
        # validates every argument now
        self.runs = RunBudgets(
            user_id, usd_limit, token_limit, name, max_runs=max_runs, owner="ActGuardCallbackHandler", **budget_options
        )
        super().__init__(event_starts_to_ignore=[], event_ends_to_ignore=[])
        self.user_id = user_id
        self.usd_limit = usd_limit
        self.token_limit = token_limit
        self.name = name
        self.max_runs = max_runs
        self.budget_options = dict(budget_options)
        self._lock = threading.Lock()
        self._calls: OrderedDict[str, tuple[BudgetGuard, str | None, str | None]] = OrderedDict()
        self._warned_no_usage = False

    # -- runs -----------------------------------------------------------------------------------------------
    def run(self, workflow: Any, *args: Any, **kwargs: Any) -> Any:
        """Start ``workflow.run(*args, **kwargs)`` under a fresh budget with this handler's limits.

        The handler is added to the callback managers of the workflow's LLMs first (:func:`instrument`). Call it
        where ``workflow.run`` could be called (with a running event loop); it returns the workflow's own handler.
        """
        instrument(workflow, self)
        budget = self.runs.open()
        token = _guarded_run.set(True)
        try:
            with budget:  # the run's tasks are created inside: they see this budget, the caller's context does not
                handler = workflow.run(*args, **kwargs)
        finally:
            _guarded_run.reset(token)
        self.runs.attach(handler, budget)
        run_id = getattr(handler, "run_id", None)
        if isinstance(run_id, str):
            self.runs.keep(run_id, budget)
        return handler

    def budget_for(self, handler_or_run_id: Any) -> BudgetGuard | None:
        """The budget of a run started with :meth:`run`, by its workflow handler or ``run_id``, or None."""
        found = self.runs.attached(handler_or_run_id)
        if found is not None:
            return found
        run_id = getattr(handler_or_run_id, "run_id", handler_or_run_id)
        return self.runs.budget_for(run_id) if isinstance(run_id, str) else None

    @property
    def last_budget(self) -> BudgetGuard | None:
        """The budget of the run most recently started with :meth:`run` (use :meth:`budget_for` when concurrent)."""
        return self.runs.last_budget

    # -- callback events ------------------------------------------------------------------------------------
    def on_event_start(
        self,
        event_type: CBEventType,
        payload: dict[str, Any] | None = None,
        event_id: str = "",
        parent_id: str = "",
        **kwargs: Any,
    ) -> str:
        """Refuse an LLM call when a budget is spent (or its model has no price under a usd_limit); remember it."""
        if event_type != CBEventType.LLM:
            return event_id
        # An error a guarded tool of this run parked for the caller (see actguard.refusals.park): raise it now,
        # before the model reads the tool's result.
        messages = (payload or {}).get(EventPayload.MESSAGES)
        if isinstance(messages, list):
            parked = parked_in(getattr(m, "content", None) for m in messages[-3:])
            if parked is not None:
                raise parked
        budget = current_budget()
        if budget is None:
            return event_id
        serialized = (payload or {}).get(EventPayload.SERIALIZED)
        model = provider = None
        max_output: int | None = None
        if isinstance(serialized, dict):
            value = serialized.get("model") or serialized.get("model_name")
            model = value if isinstance(value, str) else None
            provider = provider_of(serialized.get("class_name"))
            max_tokens = serialized.get("max_tokens")
            max_output = max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else None
        # Spent budgets (this one and every enclosing one), unpriced models under a usd_limit, strict worst cases.
        check_call([budget], model, provider=provider, max_output_tokens=max_output)
        with self._lock:
            self._calls[event_id] = (budget, model, provider)
            if len(self._calls) > _MAX_LIVE_CALLS:
                self._calls.popitem(last=False)
        return event_id

    def on_event_end(
        self,
        event_type: CBEventType,
        payload: dict[str, Any] | None = None,
        event_id: str = "",
        **kwargs: Any,
    ) -> None:
        """Record the usage of a finished LLM call into the budget that was active when it started."""
        if event_type != CBEventType.LLM:
            return
        with self._lock:
            call = self._calls.pop(event_id, None)
        response = (payload or {}).get(EventPayload.RESPONSE) or (payload or {}).get(EventPayload.COMPLETION)
        if call is None or response is None:
            return
        budget, configured_model, provider = call
        model = model_of(response, configured_model)
        usage = usage_of(response, model, provider)
        if usage is None:
            if not self._warned_no_usage and not _sdk_metered(response):
                self._warned_no_usage = True
                warnings.warn(
                    f"actguard: an LLM response of {model!r} reported no token usage, so it was not counted against "
                    "the budget (for OpenAI streaming, pass additional_kwargs={'stream_options': "
                    "{'include_usage': True}} or enable actguard's OpenAI SDK meter)",
                    ActGuardWarning,
                    stacklevel=2,
                )
            return
        budget.record(usage, call_id=call_key(response))

    def start_trace(self, trace_id: str | None = None) -> None:
        """Nothing to do (LlamaIndex's trace API)."""

    def end_trace(self, trace_id: str | None = None, trace_map: dict[str, list[str]] | None = None) -> None:
        """Nothing to do (LlamaIndex's trace API)."""

    def __repr__(self) -> str:
        return (
            f"ActGuardCallbackHandler(user_id={self.user_id!r}, usd_limit={self.usd_limit!r}, "
            f"token_limit={self.token_limit!r})"
        )


_SDK_PROVIDERS = {"openai": "openai", "anthropic": "anthropic", "google": "google"}


def _sdk_metered(response: Any) -> bool:
    """Whether the response came through an SDK that actguard's SDK meter counts (it hides usage it asked for)."""
    from actguard.budget import providers

    package = type(getattr(response, "raw", None)).__module__.split(".", 1)[0]
    return _SDK_PROVIDERS.get(package) in providers.installed()


def _llms_of(target: Any) -> Iterator[Any]:
    """The LLMs of an LLM, an agent (its ``llm``) or a multi-agent workflow (each agent's ``llm``)."""
    agents = getattr(target, "agents", None)
    if isinstance(agents, dict):
        for agent in agents.values():
            yield from _llms_of(agent)
        return
    if isinstance(agents, (list, tuple)):
        for agent in agents:
            yield from _llms_of(agent)
        return
    llm = getattr(target, "llm", None)
    if llm is not None and hasattr(llm, "callback_manager"):
        yield llm
    elif hasattr(target, "callback_manager") and hasattr(target, "metadata"):
        yield target


def instrument(target: Any, handler: ActGuardCallbackHandler | None = None) -> Any:
    """Add an :class:`ActGuardCallbackHandler` to the callback managers of ``target``'s LLMs (once); return ``target``.

    ``target`` is an LLM, an agent (``FunctionAgent``, ``ReActAgent``...) or an ``AgentWorkflow`` (every agent).
    Idempotent: an LLM that already has an ``ActGuardCallbackHandler`` is left as it is (one is enough: it charges
    the active budget, whichever handler started the run). Note that LlamaIndex LLMs built without handlers of their
    own share the handler list of ``Settings.callback_manager``; instrumenting one of them instruments them all.

    Raises:
        ConfigError: when ``target`` has no LLM.
    """
    llms = list(_llms_of(target))
    if not llms:
        raise ConfigError(f"instrument(target=...) must be an LLM, an agent or an AgentWorkflow, got {target!r}")
    for llm in llms:
        manager = llm.callback_manager
        if not isinstance(manager, CallbackManager):
            manager = llm.callback_manager = CallbackManager([])
        if not any(isinstance(h, ActGuardCallbackHandler) for h in manager.handlers):
            manager.add_handler(handler if handler is not None else ActGuardCallbackHandler())
    return target


def uninstrument(target: Any) -> Any:
    """Remove every :class:`ActGuardCallbackHandler` from the callback managers of ``target``'s LLMs; return it."""
    for llm in _llms_of(target):
        manager = llm.callback_manager
        if isinstance(manager, CallbackManager):
            for h in [h for h in manager.handlers if isinstance(h, ActGuardCallbackHandler)]:
                manager.remove_handler(h)
    return target


def install(handler: ActGuardCallbackHandler | None = None) -> ActGuardCallbackHandler:
    """Add an :class:`ActGuardCallbackHandler` to ``Settings.callback_manager`` (once) and return the one installed.

    LLMs built afterwards without a callback manager of their own (and ``Settings.llm``) then meter into the active
    ``BudgetGuard`` and refuse calls once it is spent. LLMs that have their own callback manager need
    :func:`instrument` (``ActGuardCallbackHandler.run`` does it for the workflow it runs).
    """
    from llama_index.core import Settings

    manager = Settings.callback_manager
    for existing in manager.handlers:
        if isinstance(existing, ActGuardCallbackHandler):
            return existing
    installed = handler if handler is not None else ActGuardCallbackHandler()
    manager.add_handler(installed)
    return installed


def uninstall() -> None:
    """Remove every :class:`ActGuardCallbackHandler` from ``Settings.callback_manager``."""
    from llama_index.core import Settings

    manager = Settings.callback_manager
    for h in [h for h in manager.handlers if isinstance(h, ActGuardCallbackHandler)]:
        manager.remove_handler(h)


ActGuardHandler = ActGuardCallbackHandler
"""The earlier name of :class:`ActGuardCallbackHandler`."""
