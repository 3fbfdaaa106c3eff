"""budget_guardrail: an input guardrail that stops a run before its first model call when the budget is spent."""

from __future__ import annotations

from typing import Any

from agents import Agent, GuardrailFunctionOutput, InputGuardrail, RunContextWrapper

from actguard import BudgetExceededError, BudgetGuard, current_budget
from actguard.exceptions import ConfigError
from actguard.reporting import emit
from actguard_openai_agents._compat import HAS_SEQUENTIAL_GUARDRAILS
from actguard_openai_agents._hooks import ActGuardRunHooks

__all__ = ["budget_guardrail"]


def budget_guardrail(
    budget: BudgetGuard | ActGuardRunHooks | None = None, *, name: str = "actguard_budget"
) -> InputGuardrail[Any]:
    """An input guardrail whose tripwire fires when the budget is already spent, before any model call.

    Add it to the starting agent: ``Agent(..., input_guardrails=[budget_guardrail()])``. A spent budget then ends
    the run with the SDK's ``InputGuardrailTripwireTriggered``; the :class:`~actguard.BudgetExceededError` is the
    guardrail's ``output_info`` (``exc.guardrail_result.output.output_info``). The guardrail runs before the model
    is called (``run_in_parallel=False``) where the SDK supports it (openai-agents >= 0.6); older releases run input
    guardrails alongside the first model call, and :class:`ActGuardRunHooks` refuses that call instead.

    Args:
        budget: what to check: a :class:`~actguard.BudgetGuard` (a per-user budget kept across runs, say), the
            :class:`ActGuardRunHooks` of the run (the run's budget and every enclosing one), or None for the
            ``BudgetGuard`` active where the run started (no active guard: never trips).
        name: the guardrail's name in results and traces.

    Raises:
        ConfigError: for a ``budget`` of another type or an empty ``name``.
    """
    if budget is not None and not isinstance(budget, (BudgetGuard, ActGuardRunHooks)):
        raise ConfigError(
            f"budget_guardrail(budget=...) must be a BudgetGuard, an ActGuardRunHooks or None, got {budget!r}"
        )
    if not isinstance(name, str) or not name:
        raise ConfigError(f"budget_guardrail(name=...) must be a non-empty str, got {name!r}")

    async def check_budget(context: RunContextWrapper[Any], agent: Agent[Any], input: Any) -> GuardrailFunctionOutput:
        try:
            if isinstance(budget, ActGuardRunHooks):
                await budget._budget(context).acheck()  # acheck: off the event loop when the budget is shared
                guard = current_budget()
            else:
                guard = budget if budget is not None else current_budget()
            if guard is not None:
                await guard.acheck()
        except BudgetExceededError as error:
            emit(
                "budget",
                "run",
                "blocked",
                user_id=error.user_id,
                payload={
                    "guard": error.guard_name,
                    "limit_type": error.limit_type,
                    "limit": error.limit,
                    "used": error.used,
                },
            )
            return GuardrailFunctionOutput(output_info=error, tripwire_triggered=True)
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered=False)

    extra: dict[str, Any] = {"run_in_parallel": False} if HAS_SEQUENTIAL_GUARDRAILS else {}
    return InputGuardrail(guardrail_function=check_budget, name=name, **extra)
