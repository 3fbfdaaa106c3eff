"""ActGuardRunHooks: meter every model call of a Runner run and refuse the next one once its budget is spent."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from agents import Agent, ModelResponse, RunContextWrapper, RunHooks

from actguard import BudgetExceededError, BudgetGuard, LLMUsage, current_budget
from actguard.budget import metering
from actguard.budget.metering import estimate_tokens
from actguard.exceptions import ConfigError
from actguard.runs import RunBudgets, acheck_call, off_loop
from actguard_openai_agents._landing import add_landing_note
from actguard_openai_agents._usage import call_id_of, model_name, split_model, usage_of

__all__ = ["ActGuardRunHooks"]

_MAX_PENDING = 10_000  # model calls under way whose metering mark is kept (oldest dropped first)


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
            ``user_id`` and ``name`` share one budget in the store). ``strict`` checks each call's worst case from
            what the hooks see before it, the agent's ``model_settings.max_tokens``; inside a
            ``BudgetGuard(strict=True)`` actguard's SDK meter adds the prompt estimate for OpenAI calls.
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
        if model is not None and not isinstance(model, str) and not isinstance(getattr(model, "model", None), str):
            raise ConfigError(
                f"ActGuardRunHooks(model=...) must be a model name, a Model with a `model` name, or None; got {model!r}"
            )
        # validates every argument now
        self.runs = RunBudgets(
            user_id, usd_limit, token_limit, name, max_runs=max_runs, owner="ActGuardRunHooks", **budget_options
        )
        self.user_id = user_id
        self.usd_limit = usd_limit
        self.token_limit = token_limit
        self.name = name
        self.model = model
        self.max_runs = max_runs
        self.budget_options = dict(budget_options)
        self._lock = threading.Lock()  # one budget per run even if two of its first calls race
        # id(run context) -> (metering mark, prompt) of the model call under way in that run
        self._pending: OrderedDict[int, tuple[object, Any]] = OrderedDict()

    # -- readings -------------------------------------------------------------------------------------------------
    @property
    def last_budget(self) -> BudgetGuard | None:
        """The budget of the run that most recently made its first model call (use :meth:`budget_for` with
        concurrent runs)."""
        return self.runs.last_budget

    def budget_for(self, run: Any) -> BudgetGuard | None:
        """The budget of a run, or None if it made no model call through these hooks.

        Args:
            run: the run's result (``RunResult`` / ``RunResultStreaming``), the error it raised (a
                ``BudgetExceededError`` from these hooks, or an SDK ``AgentsException``, which carries the run's
                data), or its ``RunContextWrapper``.
        """
        found = self.runs.attached(run)
        if found is not None:
            return found
        context = _context_of(run)
        return None if context is None else self.runs.attached(context)

    def _budget(self, context: RunContextWrapper[Any]) -> BudgetGuard:
        """The run's budget (opened at its first model call: every agent of the run, handoffs included, shares it)."""
        budget = self.runs.attached(context)
        if budget is None:
            with self._lock:
                budget = self.runs.attached(context)
                if budget is None:
                    budget = self.runs.open()
                    self.runs.attach(context, budget)
        return budget

    async def _check(self, context: RunContextWrapper[Any], agent: Agent[Any] | None) -> BudgetGuard:
        """Refuse the next model call if the run's budget or the caller's guard (hooks run in a copy of the run's
        context: the BudgetGuard active where the run started) is spent, or cannot price the model (off the event
        loop when one is shared)."""
        budget = self._budget(context)
        model, provider = split_model(model_name(self.model, agent)) if agent is not None else (None, None)
        settings = getattr(agent, "model_settings", None)
        max_tokens = getattr(settings, "max_tokens", None)
        try:
            await acheck_call(
                [budget, current_budget()],
                model,
                provider=provider,
                max_output_tokens=max_tokens if type(max_tokens) is int else None,
            )
        except BudgetExceededError as error:
            self.runs.attach(error, budget)
            raise
        return budget

    # -- hooks ----------------------------------------------------------------------------------------------------
    async def on_llm_start(
        self, context: RunContextWrapper[Any], agent: Agent[Any], system_prompt: str | None, input_items: Any
    ) -> None:
        """Refuse the model call if the run's budget (or an enclosing one) is spent, or cannot price the model;
        once a budget has warned (``warn_at``), add the note telling the model to finish to the call's input."""
        budget = await self._check(context, agent)
        with self._lock:  # what on_llm_end needs to tell who metered the call (hooks run in copied contexts)
            self._pending[id(context)] = (metering.mark(), (system_prompt, input_items))
            if len(self._pending) > _MAX_PENDING:
                self._pending.popitem(last=False)
        add_landing_note(input_items, budget, current_budget())

    async def on_llm_end(self, context: RunContextWrapper[Any], agent: Agent[Any], response: ModelResponse) -> None:
        """Record the call's usage in the run's budget (and the enclosing guards, unless already metered there).

        A call that reports no usage (a streamed Chat Completion without its usage chunk: an OpenAI-compatible
        ``base_url``, ``ModelSettings(include_usage=False)``) is charged what actguard's SDK meter counted for it,
        when it metered it (inside a BudgetGuard), else an estimate, with a warning (see
        :func:`actguard.budget.metering.charge_estimate`).
        """
        budget = self._budget(context)
        enclosing = current_budget()
        with self._lock:
            pending = self._pending.pop(id(context), None)
        # Recording may settle a shared budget in its store: off the event loop then.
        await off_loop((budget, enclosing), self._record, budget, enclosing, pending, agent, response)

    def _record(
        self,
        budget: BudgetGuard,
        enclosing: BudgetGuard | None,
        pending: tuple[object, Any] | None,
        agent: Agent[Any],
        response: ModelResponse,
    ) -> None:
        usage = usage_of(response, model_name(self.model, agent))
        call_id = call_id_of(response)
        # The calls actguard's SDK meter charged to the enclosing guards while this model call ran.
        metered = metering.since(pending[0]) if pending is not None else ()
        # One ``recorded`` event a call (BudgetGuard.record): the SDK meter's when it metered the call (into the
        # enclosing guard), else the run budget's; the other budget's charge is reported as ``charged``.
        if not usage.total_tokens:
            if metered:
                for call in metered:
                    budget.record(call.usage, call_id=call.call_id, reported=True)
                return
            prompt = pending[1] if pending is not None else None
            estimate = LLMUsage(
                usage.model, usage.provider, estimate_tokens(prompt), 0, 0, estimate_tokens(response.output)
            )
            reason = "an OpenAI Agents model call reported no token usage (a stream without its usage chunk?)"
            metering.charge_estimate(budget, estimate, reason=reason, call_id=call_id)
            if enclosing is not None:
                metering.charge_estimate(enclosing, estimate, reason=reason, call_id=call_id, reported=True)
            return
        budget.record(usage, call_id=call_id, reported=metering.already_reported(enclosing, call_id, metered))
        # The enclosing guards: a call with an id is recorded once whoever else saw it; one without an id only if
        # actguard's SDK meter did not already charge it to them.
        if enclosing is not None and (call_id is not None or not metered):
            enclosing.record(usage, call_id=call_id, reported=True)

    def __repr__(self) -> str:
        return (
            f"ActGuardRunHooks(user_id={self.user_id!r}, usd_limit={self.usd_limit!r}, "
            f"token_limit={self.token_limit!r})"
        )


def _context_of(run: Any) -> Any:
    if isinstance(run, RunContextWrapper):
        return run
    context = getattr(run, "context_wrapper", None)
    if context is None:
        context = getattr(getattr(run, "run_data", None), "context_wrapper", None)
    return context
