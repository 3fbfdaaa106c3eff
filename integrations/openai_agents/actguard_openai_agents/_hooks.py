"""ActGuardRunHooks: meter every model call of a Runner run and refuse the next one once its budget is spent."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from agents import Agent, ModelResponse, RunContextWrapper, RunHooks

from actguard import BudgetExceededError, BudgetGuard, LLMUsage, current_budget
from actguard.budget import metering
from actguard.budget.metering import estimate_tokens
from actguard.exceptions import ConfigError
from actguard.reporting import emit
from actguard_openai_agents._usage import call_id_of, model_name, split_model, usage_of

__all__ = ["ActGuardRunHooks"]


class ActGuardRunHooks(RunHooks[Any]):
    """``RunHooks`` giving each ``Runner`` run a budget: every model call is metered, and once a limit is crossed the
    next model call is refused before it is made.

    Pass it as the run's ``hooks``::

        hooks = ActGuardRunHooks(user_id="alice", usd_limit=0.05)
        try:
            result = await Runner.run(agent, "Refund order o1", hooks=hooks)
        except actguard.BudgetExceededError as exc:
            print("stopped:", exc)
        print(hooks.last_budget.usd_used)

    Each run gets its own :class:`~actguard.BudgetGuard` with these limits (every agent of the run, handoffs
    included, is charged to it), read after the run with :meth:`budget_for` (given the run's result or the error it
    raised) or :attr:`last_budget`. Inside an active ``BudgetGuard`` (and the guards enclosing it) the run's calls
    are charged there too, and its limits are enforced as well. One instance can be shared by concurrent runs.

    ``on_llm_end`` records the response's usage (input with cached, output with reasoning) under the provider's
    response id, so a call that actguard's SDK meter also sees (``OpenAIResponsesModel``,
    ``OpenAIChatCompletionsModel``) counts once. ``on_llm_start`` raises :class:`~actguard.BudgetExceededError` once
    a limit is crossed: it reaches the caller of ``Runner.run`` and ``Runner.run_sync``, and of
    ``stream_events()`` for ``Runner.run_streamed``.

    An agent used as a tool (``agent.as_tool``) runs a ``Runner`` run of its own: a separate run to these hooks, if
    it is given them at all. To cap a whole tree of runs, run it inside a ``BudgetGuard``.

    Args:
        user_id: who the spend is for.
        usd_limit: stop a run once it spent this many USD.
        token_limit: stop a run once it used this many tokens.
        name: a label for errors and events.
        model: the model the run config sets (``RunConfig.model``), which overrides the agents' own; the hooks do
            not see the run config. A model name or a ``Model`` instance. Otherwise the model is the agent's, or the
            SDK default.
        max_runs: how many runs' budgets stay readable (oldest dropped first).
        **budget_options: further :class:`~actguard.BudgetGuard` options for each run's budget
            (``on_unknown_model``, ``fallback_price``; ``shared`` / ``window`` / ``store`` make every run of one
            ``user_id`` and ``name`` share one budget in the store). ``strict`` is refused: the hooks do not see the
            request's size.
    """

    def __init__(
        self,
        user_id: str | None = None,
        usd_limit: float | None = None,
        token_limit: int | None = None,
        name: str | None = None,
        *,
        model: Any = None,
        max_runs: int = 1000,
        **budget_options: Any,
    ) -> None:
        if isinstance(max_runs, bool) or not isinstance(max_runs, int) or max_runs < 1:
            raise ConfigError(f"ActGuardRunHooks(max_runs=...) must be an int >= 1, got {max_runs!r}")
        if model is not None and not isinstance(model, str) and not isinstance(getattr(model, "model", None), str):
            raise ConfigError(
                f"ActGuardRunHooks(model=...) must be a model name, a Model with a `model` name, or None; got {model!r}"
            )
        if budget_options.get("strict"):
            raise ConfigError(
                "ActGuardRunHooks(strict=True) is not supported: the hooks do not see the request's size. Run inside "
                "a BudgetGuard(strict=True), which actguard's SDK meter applies to each OpenAI call."
            )
        # validates every argument now
        BudgetGuard(user_id=user_id, usd_limit=usd_limit, token_limit=token_limit, name=name, **budget_options)
        self.user_id = user_id
        self.usd_limit = usd_limit
        self.token_limit = token_limit
        self.name = name
        self.model = model
        self.max_runs = max_runs
        self.budget_options = budget_options
        self._lock = threading.Lock()
        # id(run context) -> (weak reference to it, its budget); the weakref tells a reused id from the same run.
        self._runs: OrderedDict[int, tuple[Callable[[], Any], _Run]] = OrderedDict()
        self._last: BudgetGuard | None = None
        self._refusals: weakref.WeakKeyDictionary[BaseException, BudgetGuard] = weakref.WeakKeyDictionary()

    # -- readings -------------------------------------------------------------------------------------------------
    @property
    def last_budget(self) -> BudgetGuard | None:
        """The budget of the run that most recently made its first model call (use :meth:`budget_for` with
        concurrent runs)."""
        return self._last

    def budget_for(self, run: Any) -> BudgetGuard | None:
        """The budget of a run, or None if it made no model call through these hooks.

        Args:
            run: the run's result (``RunResult`` / ``RunResultStreaming``), the error it raised (a
                ``BudgetExceededError`` from these hooks, or an SDK ``AgentsException``, which carries the run's
                data), or its ``RunContextWrapper``.
        """
        if isinstance(run, BaseException):
            with self._lock:
                try:
                    refused = self._refusals.get(run)
                except TypeError:  # an exception type without weak references is none of ours
                    refused = None
            if refused is not None:
                return refused
        context = _context_of(run)
        if context is None:
            return None
        with self._lock:
            entry = self._runs.get(id(context))
        return entry[1].budget if entry is not None and entry[0]() is context else None

    def _run(self, context: RunContextWrapper[Any]) -> _Run:
        key = id(context)
        with self._lock:
            entry = self._runs.get(key)
            if entry is not None and entry[0]() is context:
                return entry[1]
            guard = BudgetGuard(
                user_id=self.user_id,
                usd_limit=self.usd_limit,
                token_limit=self.token_limit,
                name=self.name,
                **self.budget_options,
            )
            # Hooks run in tasks that copy the run's context: the BudgetGuard active where the run started.
            run = _Run(guard, current_budget())
            self._runs[key] = (_ref(context), run)
            self._runs.move_to_end(key)
            while len(self._runs) > self.max_runs:
                self._runs.popitem(last=False)
            self._last = guard
            return run

    # -- hooks ----------------------------------------------------------------------------------------------------
    async def on_llm_start(
        self, context: RunContextWrapper[Any], agent: Agent[Any], system_prompt: str | None, input_items: Any
    ) -> None:
        """Refuse the model call if the run's budget (or an enclosing one) is spent, or cannot price the model."""
        run = self._run(context)
        run.pending = (metering.mark(), (system_prompt, input_items))  # what on_llm_end needs to tell who metered
        try:
            run.check(*split_model(model_name(self.model, agent)))
        except BudgetExceededError as error:
            with self._lock:
                self._refusals[error] = run.budget
            emit(
                "budget",
                "llm_call",
                "blocked",
                user_id=error.user_id,
                payload={"limit_type": error.limit_type, "limit": error.limit, "used": error.used},
            )
            raise

    async def on_llm_end(self, context: RunContextWrapper[Any], agent: Agent[Any], response: ModelResponse) -> None:
        """Record the call's usage in the run's budget (and the enclosing guards, unless already metered there).

        A call that reports no usage (a streamed Chat Completion without its usage chunk: an OpenAI-compatible
        ``base_url``, ``ModelSettings(include_usage=False)``) is charged what actguard's SDK meter counted for it,
        when it metered it (inside a BudgetGuard), else an estimate, with a warning (see
        :func:`actguard.budget.metering.charge_estimate`).
        """
        usage = usage_of(response, model_name(self.model, agent))
        call_id = call_id_of(response)
        run = self._run(context)
        pending, run.pending = run.pending, None
        # The calls actguard's SDK meter charged to the enclosing guards while this model call ran.
        metered = metering.since(pending[0]) if pending is not None else ()
        if not usage.total_tokens:
            if metered:
                for call in metered:
                    run.budget.record(call.usage, call_id=call.call_id)
                return
            prompt = pending[1] if pending is not None else None
            estimate = LLMUsage(
                usage.model, usage.provider, estimate_tokens(prompt), 0, 0, estimate_tokens(response.output)
            )
            reason = "an OpenAI Agents model call reported no token usage (a stream without its usage chunk?)"
            for guard in (run.budget, run.enclosing):
                if guard is not None:
                    metering.charge_estimate(guard, estimate, reason=reason, call_id=call_id)
            return
        run.budget.record(usage, call_id=call_id)
        # The enclosing guards: a call with an id is recorded once whoever else saw it; one without an id only if
        # actguard's SDK meter did not already charge it to them.
        if run.enclosing is not None and (call_id is not None or not metered):
            run.enclosing.record(usage, call_id=call_id)

    def __repr__(self) -> str:
        return (
            f"ActGuardRunHooks(user_id={self.user_id!r}, usd_limit={self.usd_limit!r}, "
            f"token_limit={self.token_limit!r})"
        )


class _Run:
    """One run's budget, and the BudgetGuard active where the run started (charged and enforced too)."""

    __slots__ = ("budget", "enclosing", "pending")

    def __init__(self, budget: BudgetGuard, enclosing: BudgetGuard | None) -> None:
        self.budget = budget
        self.enclosing = enclosing
        self.pending: tuple[object, Any] | None = None  # (metering mark, prompt) of the model call under way

    def check(self, model: str | None = None, provider: str | None = None) -> None:
        """Raise BudgetExceededError if the run's budget, or an enclosing one, is spent; UnknownModelPriceError if
        one with a usd_limit has no price for ``model``."""
        self.budget.check_call(model, provider=provider)
        if self.enclosing is not None:
            self.enclosing.check_call(model, provider=provider)


def _ref(context: Any) -> Callable[[], Any]:
    """A weak reference to the run's context (a strong one if it takes none: the registry is bounded anyway)."""
    try:
        return weakref.ref(context)
    except TypeError:
        return lambda: context


def _context_of(run: Any) -> Any:
    if isinstance(run, RunContextWrapper):
        return run
    context = getattr(run, "context_wrapper", None)
    if context is None:
        context = getattr(getattr(run, "run_data", None), "context_wrapper", None)
    return context
