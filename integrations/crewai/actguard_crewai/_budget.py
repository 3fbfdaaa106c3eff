"""Budget per crew kickoff: meter every LLM call of the crew, stop it before the next call once a limit is crossed.

How it hooks in:
- Metering: a process-wide handler on CrewAI's event bus for ``LLMCallCompletedEvent`` (it carries the usage, the
  model, the agent and the provider's response id). The bus runs handlers on a worker thread in a copy of the
  emitting context, so the handler finds the kickoff's budget in its contextvars; crews no ``ActGuardCrewHooks`` runs
  are ignored. The response id makes the record idempotent with actguard's SDK meter (a call counts once).
- Enforcement: a ``before_llm_call`` hook registered *scoped* to one kickoff (``crewai.hooks.dispatch.scoped_hooks``),
  so it never touches another crew running at the same time. Event-bus handlers run late and swallow errors, so the
  hook first flushes the bus (the last call's usage is counted), then raises :class:`CrewBudgetExceeded` — both
  CrewAI's ``HookAborted`` (which CrewAI >= 1.15.19 propagates to the caller of ``kickoff``) and actguard's
  ``BudgetExceededError``. Older releases turn the abort into a ``ValueError``; :class:`ActGuardCrewHooks`'s kickoff
  methods turn that back into :class:`CrewBudgetExceeded`, chained to CrewAI's error.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from actguard import BudgetExceededError, BudgetGuard, LLMUsage
from actguard.budget import metering, prices
from actguard.budget.usage_parsing import count, parse_usage
from actguard.exceptions import ConfigError
from actguard.runs import RunBudgets, report_blocked
from actguard_crewai._compat import HookAborted, InterceptionPoint, register_scoped, scoped_hooks
from actguard_crewai._escalate import collecting_aborts
from actguard_crewai._landing import add_landing_note

__all__ = ["ActGuardCrewHooks", "AgentUsage", "CrewBudget", "CrewBudgetExceeded"]

_active: contextvars.ContextVar[_KickoffState | None] = contextvars.ContextVar("actguard_crew_kickoff", default=None)
_install_lock = threading.Lock()
_installed = False


class CrewBudgetExceeded(HookAborted, BudgetExceededError):  # type: ignore[misc,unused-ignore]
    """Raised out of ``kickoff()`` when a crew's budget is spent: catch it as ``actguard.BudgetExceededError``."""

    def __init__(self, error: BudgetExceededError) -> None:
        BudgetExceededError.__init__(
            self, error.user_id, error.limit_type, error.limit, error.used, guard_name=error.guard_name
        )
        self.reason = str(self)
        self.source = "actguard"


@dataclass
class AgentUsage:
    """One agent's share of a kickoff's usage."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0


class _KickoffState:
    __slots__ = ("budget", "by_agent", "lock", "marks", "stopped")

    def __init__(self, budget: BudgetGuard) -> None:
        self.budget = budget
        self.by_agent: dict[str, AgentUsage] = {}
        self.lock = threading.Lock()
        self.marks: dict[str, object] = {}  # LLM call id -> metering mark at its start (bounded)
        self.stopped: BudgetExceededError | None = None  # set when our hook refused an LLM call


def _first(usage: dict[str, Any], *keys: str) -> int:
    return next((count(usage, key) for key in keys if count(usage, key)), 0)


def usage_from_event(model: str, usage: dict[str, Any]) -> LLMUsage:
    """Normalise the usage dict CrewAI's providers put on ``LLMCallCompletedEvent``: the provider's own usage
    (OpenAI, Anthropic, Gemini keys, read by the core parser), where CrewAI may copy some details to the top level
    under names of its own (``cached_prompt_tokens``, ``cache_creation_tokens``, ``reasoning_tokens``)."""
    shaped = dict(usage)
    cached = _first(usage, "cached_prompt_tokens", "cached_tokens")
    written = count(usage, "cache_creation_tokens")
    reasoning = count(usage, "reasoning_tokens")
    if "prompt_tokens" in usage:  # OpenAI-style
        details = dict(usage.get("prompt_tokens_details") or {})
        if cached and not count(details, "cached_tokens"):
            shaped["prompt_tokens_details"] = {**details, "cached_tokens": cached}
        out_details = dict(usage.get("completion_tokens_details") or {})
        if reasoning and not count(out_details, "reasoning_tokens"):
            shaped["completion_tokens_details"] = {**out_details, "reasoning_tokens": reasoning}
    elif "input_tokens" in usage:  # Anthropic-style: cache reads and writes counted apart from input_tokens
        shaped.setdefault("cache_read_input_tokens", cached)
        shaped.setdefault("cache_creation_input_tokens", written)
    name = model.split("/", 1)[-1] if "/" in model else model
    return parse_usage(shaped, name, None) or LLMUsage(name)


_MAX_MARKS = 1024
_UNMARKED = object()


def _on_llm_started(source: Any, event: Any) -> None:
    """Remember what was metered before the call (CrewAI copies the caller's context into each handler)."""
    state = _active.get()
    call_id = getattr(event, "call_id", None)
    if state is not None and isinstance(call_id, str):
        with state.lock:
            if len(state.marks) >= _MAX_MARKS:
                state.marks.pop(next(iter(state.marks)))
            state.marks[call_id] = metering.mark()


def _metered_cost(budget: BudgetGuard, metered: tuple[metering.MeteredCall, ...]) -> float:
    """The cost of the calls actguard's SDK meter charged to the kickoff's budget (current during the call). A call
    with a response id is recorded again under it (a no-op for a budget that has it); one without an id (a gateway
    that sends none) was charged once already and is not recorded again: it would count twice."""
    usd = 0.0
    for call in metered:
        if call.call_id is not None:
            usd += budget.record(call.usage, call_id=call.call_id)
        else:
            price = prices.lookup(call.usage.model, call.usage.provider)
            usd += price.cost(call.usage) if price is not None else 0.0
    return usd


def _on_llm_completed(source: Any, event: Any) -> None:
    state = _active.get()
    if state is None:
        return
    with state.lock:
        mark = state.marks.pop(getattr(event, "call_id", None) or "", _UNMARKED)
    # The calls actguard's SDK meter charged to the kickoff's budget (current during the call) while this one ran.
    metered = metering.since(mark) if mark is not _UNMARKED else ()
    model = str(getattr(event, "model", None) or "unknown")
    usage_dict = getattr(event, "usage", None)
    response_id = getattr(event, "response_id", None)
    if usage_dict:
        usage = usage_from_event(model, usage_dict)
        if metered and response_id is None:  # charged by the SDK meter already, under an id CrewAI did not keep
            usd = _metered_cost(state.budget, metered)
        else:
            usd = state.budget.record(usage, call_id=response_id)
    elif metered:
        usage = metered[-1].usage
        usd = _metered_cost(state.budget, metered)
    else:  # no layer metered the call: an estimate, warned about
        name = model.split("/", 1)[-1] if "/" in model else model
        usage = LLMUsage(
            name,
            None,
            metering.estimate_tokens(getattr(event, "messages", None)),
            0,
            0,
            metering.estimate_tokens(getattr(event, "response", None)),
        )
        reason = f"a CrewAI LLM call of {name!r} reported no token usage"
        usd = metering.charge_estimate(state.budget, usage, reason=reason, call_id=response_id)
    role = str(getattr(event, "agent_role", None) or "-")
    with state.lock:
        share = state.by_agent.setdefault(role, AgentUsage())
        share.calls += 1
        share.input_tokens += usage.input_tokens
        share.output_tokens += usage.output_tokens
        share.usd += usd


def _install() -> None:
    """Register the metering handler on CrewAI's event bus once per process."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from crewai.events.event_bus import crewai_event_bus
        from crewai.events.types.llm_events import LLMCallCompletedEvent, LLMCallStartedEvent

        crewai_event_bus.register_handler(LLMCallStartedEvent, _on_llm_started)
        crewai_event_bus.register_handler(LLMCallCompletedEvent, _on_llm_completed)
        _installed = True


def _flush_events(timeout: float) -> None:
    from crewai.events.event_bus import crewai_event_bus

    crewai_event_bus.flush(timeout=timeout)


class ActGuardCrewHooks:
    """A budget for each kickoff of a crew, enforced through CrewAI's own hooks.

    Each kickoff gets a fresh :class:`actguard.BudgetGuard` with these limits, nested in the active one if any
    (so an enclosing ``BudgetGuard`` is charged too and enforces its own limits). Read it afterwards with
    :meth:`budget_for` (given the kickoff's result or the error it raised; safe with concurrent kickoffs) or
    :attr:`last_budget`, with a per-agent breakdown in :attr:`last_by_agent`.

    Example::

        budget = ActGuardCrewHooks(user_id="alice", usd_limit=0.50)
        try:
            result = budget.kickoff(crew, inputs={"topic": "refunds"})
        except actguard.BudgetExceededError as exc:
            print("stopped:", exc)
        print(budget.budget_for(result).usd_used, budget.last_by_agent)

    Args:
        user_id: who the spend is for.
        usd_limit: stop the crew once this many USD are spent in one kickoff.
        token_limit: stop the crew once this many tokens are used in one kickoff.
        name: a label for errors and events.
        flush_timeout: seconds to wait, before each LLM call, for CrewAI's event bus to deliver the previous
            call's usage (CrewAI delivers events on a worker thread).
        max_runs: how many kickoffs' budgets stay readable with :meth:`budget_for` (oldest dropped first).
        **budget_options: further keyword arguments of :class:`~actguard.BudgetGuard` for each kickoff's budget
            (``strict``, ``on_unknown_model``, ``fallback_price``, ``shared``, ``window``, ``store``).
    """

    def __init__(
        self,
        user_id: str | None = None,
        usd_limit: float | None = None,
        token_limit: int | None = None,
        name: str | None = None,
        *,
        flush_timeout: float = 5.0,
        max_runs: int = 1000,
        **budget_options: Any,
    ) -> None:
        if isinstance(flush_timeout, bool) or not isinstance(flush_timeout, (int, float)) or not flush_timeout > 0:
            raise ConfigError(
                f"ActGuardCrewHooks(flush_timeout=...) must be a number of seconds > 0, got {flush_timeout!r}"
            )
        # validates every argument now
        self.runs = RunBudgets(
            user_id, usd_limit, token_limit, name, max_runs=max_runs, owner="ActGuardCrewHooks", **budget_options
        )
        self.budget_options = dict(budget_options)
        self.user_id = user_id
        self.usd_limit = usd_limit
        self.token_limit = token_limit
        self.name = name
        self.flush_timeout = float(flush_timeout)
        self._last: _KickoffState | None = None
        _install()

    @property
    def last_budget(self) -> BudgetGuard | None:
        """The budget of the most recent kickoff started through this object (use :meth:`budget_for` when
        kickoffs run concurrently)."""
        return self.runs.last_budget

    def budget_for(self, run: Any) -> BudgetGuard | None:
        """The budget of a kickoff, given its result (``CrewOutput``) or the error it raised; None if unknown."""
        return self.runs.budget_for(run)

    @property
    def last_by_agent(self) -> dict[str, AgentUsage]:
        """Usage of the most recent kickoff per agent role."""
        if self._last is None:
            return {}
        with self._last.lock:
            return {role: AgentUsage(**vars(u)) for role, u in self._last.by_agent.items()}

    @contextmanager
    def scope(self) -> Iterator[BudgetGuard]:
        """Meter and enforce every crew kicked off inside the block against one fresh budget (yielded)."""
        budget = self.runs.open()
        state = _KickoffState(budget)
        self._last = state
        flush_timeout = self.flush_timeout

        def before_llm_call(context: Any) -> None:
            _flush_events(flush_timeout)
            try:
                budget.check()  # this kickoff's limits and every enclosing BudgetGuard's
            except BudgetExceededError as exc:
                if state.stopped is not None:  # CrewAI < 1.15.19 retries a blocked call: report the stop once
                    raise CrewBudgetExceeded(exc) from exc
                state.stopped = exc
                report_blocked(exc)
                raise CrewBudgetExceeded(exc) from exc
            add_landing_note(context, budget)  # once a budget warned (warn_at)

        aborts: list[BaseException] = []
        token = _active.set(state)
        try:
            with budget, scoped_hooks(), collecting_aborts(aborts):
                register_scoped(InterceptionPoint.PRE_MODEL_CALL, before_llm_call)
                yield budget
            if aborts:  # CrewAI < 1.15.19 may log an aborted call and finish the kickoff anyway
                raise aborts[0]
        except BudgetExceededError as exc:
            self.runs.attach(exc, budget)
            raise
        except Exception as exc:
            # CrewAI < 1.15.19 turns a hook's abort into ValueError("LLM call blocked ..."): say what it was.
            if state.stopped is not None:
                error: BaseException = CrewBudgetExceeded(state.stopped)
            else:
                error = aborts[0] if aborts else (_aborted_by_actguard(exc) or exc)
            self.runs.attach(error, budget)
            if error is exc:
                raise
            raise error from exc
        finally:
            _flush_events(flush_timeout)  # the last call's usage lands before the caller reads the budget
            _active.reset(token)

    def kickoff(self, crew: Any, inputs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """``crew.kickoff(inputs=...)`` under a fresh budget."""
        with self.scope() as budget:
            result = crew.kickoff(inputs=inputs, **kwargs)
        self.runs.attach(result, budget)
        return result

    async def kickoff_async(self, crew: Any, inputs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """``await crew.kickoff_async(inputs=...)`` under a fresh budget."""
        with self.scope() as budget:
            result = await crew.kickoff_async(inputs=inputs, **kwargs)
        self.runs.attach(result, budget)
        return result

    async def akickoff(self, crew: Any, inputs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """``await crew.akickoff(inputs=...)`` (CrewAI's native async kickoff) under a fresh budget."""
        with self.scope() as budget:
            result = await crew.akickoff(inputs=inputs, **kwargs)
        self.runs.attach(result, budget)
        return result


def _aborted_by_actguard(error: BaseException) -> BaseException | None:
    """The actguard error a guarded tool parked, when CrewAI (< 1.15.19) wrapped the abort it caused."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, HookAborted) and getattr(current, "source", None) == "actguard":
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


CrewBudget = ActGuardCrewHooks
"""The earlier name of :class:`ActGuardCrewHooks`."""
