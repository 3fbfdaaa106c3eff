"""One model request of an agent run, checked before it is sent and metered after: the rule ActGuardCapability's
hooks and ActGuardModel share, and how either finds a run's budget afterwards."""

from __future__ import annotations

from typing import Any

from actguard import BudgetExceededError, BudgetGuard, current_budget
from actguard.budget import metering
from actguard.budget.metering import estimate_tokens
from actguard.runs import RunBudgets, acheck_call, off_loop
from actguard_pydantic_ai._usage import price_provider, texts, usage_of

__all__ = ["PerRunBudgets", "check", "meter"]


async def check(runs: RunBudgets, budget: BudgetGuard, model: Any, model_settings: Any) -> object:
    """Refuse the request if ``budget`` (or a guard enclosing it) is spent or cannot price ``model``; return the
    metering mark (:func:`actguard.budget.metering.mark`) that :func:`meter` reads the request's SDK calls from.

    Raises:
        BudgetExceededError: readable by ``runs.budget_for(error)``; one ``budget`` / ``llm_call`` / ``blocked`` event.
        UnknownModelPriceError: ``model`` has no price under a ``usd_limit``.
        StoreUnavailable: a shared budget's store cannot be reached (fail closed).
    """
    max_tokens = (model_settings or {}).get("max_tokens")
    try:
        await acheck_call(
            [budget],
            getattr(model, "model_name", None),
            provider=price_provider(getattr(model, "system", None)),
            max_output_tokens=max_tokens if type(max_tokens) is int else None,
        )
    except BudgetExceededError as error:
        runs.attach(error, budget)
        raise
    return metering.mark()


async def meter(budget: BudgetGuard, mark: object, model: Any, messages: Any, response: Any) -> None:
    """Charge ``response`` to ``budget`` once, whoever else saw the call; off the event loop for a shared budget
    (recording may settle it in its store)."""
    await off_loop((budget,), _meter, budget, mark, model, messages, response)


def _meter(budget: BudgetGuard, mark: object, model: Any, messages: Any, response: Any) -> None:
    # The SDK meter charged the call to the active guard, the run's budget: done. Otherwise (another model; a stream,
    # metered where it was consumed) record it here, under the response id the SDK meter uses, so a call both saw
    # counts once.
    if current_budget() is budget and metering.since(mark):
        return
    call_id = getattr(response, "provider_response_id", None)
    call_id = call_id if isinstance(call_id, str) else None
    usage = usage_of(response, getattr(model, "model_name", None), price_provider(getattr(model, "system", None)))
    if usage.input_tokens or usage.output_tokens:
        budget.record(usage, call_id=call_id)
        return
    # A model that reports no usage: an estimate, never a free call (a strict budget refuses it).
    estimate = usage._replace(
        input_tokens=estimate_tokens(texts(messages or ())), output_tokens=estimate_tokens(texts([response]))
    )
    metering.charge_estimate(
        budget,
        estimate,
        reason=f"a {usage.model!r} response through pydantic-ai reported no token usage",
        call_id=call_id,
    )


class PerRunBudgets:
    """What ActGuardCapability and ActGuardModel share: finding a run's budget, and reading it afterwards (for a
    class holding its runs' budgets in ``self.runs``)."""

    runs: RunBudgets

    def _budget_of_run(self, run_id: Any) -> BudgetGuard:
        """The budget of run ``run_id``, opened at its first request (no run id: a run of its own)."""
        if not isinstance(run_id, str):
            return self.runs.open()
        budget = self.runs.budget_for(run_id)
        return budget if budget is not None else self.runs.open(run_id)

    @property
    def last_budget(self) -> BudgetGuard | None:
        """The budget of the most recently started run (use :meth:`budget_for` with concurrent runs)."""
        return self.runs.last_budget

    def budget_for(self, run: Any) -> BudgetGuard | None:
        """The budget of a run, or None for a run this object did not see.

        Args:
            run: the run's result (``AgentRunResult``, ``StreamedRunResult``, an ``AgentRun``), its ``run_id``, or
                the error it raised.
        """
        found = self.runs.budget_for(run)  # an object attached to it, a run id, or a BudgetExceededError of its own
        run_id = getattr(run, "run_id", None)
        if found is None and isinstance(run_id, str):
            found = self.runs.budget_for(run_id)
        return found
