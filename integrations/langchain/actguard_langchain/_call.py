"""One model call: charged once to the run's budget and to the caller's active BudgetGuard.

actguard's SDK meters (OpenAI, Anthropic, Google) record into whatever ``BudgetGuard`` is current when the SDK call is
made, under the provider's response id; LangChain reports the same call with its own usage and, when streaming, no
provider id at all (langchain-openai drops it). So for the duration of each model call a limitless scope guard is
made current (nested in the caller's active guard), so that the SDK meter meters the call (and asks a stream for its
usage) even when the caller has no guard. Whether it did is read from the core's metering log
(:mod:`actguard.budget.metering`): if it did, the caller's guard was charged by it already; otherwise LangChain's usage
is charged to the scope, hence to the caller's guard.

Events: the call is reported by one ``budget`` / ``llm_call`` / ``recorded`` event (:meth:`BudgetGuard.record`): the
SDK meter's, when it charged the call to a guard of the caller's; else the run budget's. The scope is internal (never
named in events); what it passes on to the caller's guard is reported as ``charged``.
"""

from __future__ import annotations

from actguard import BudgetGuard, LLMUsage, current_budget
from actguard.budget import metering

__all__ = ["ModelCall"]


class _Scope(BudgetGuard):
    """A limitless guard, current for the duration of one model call."""

    _internal = True  # events name the caller's guard it charges, never the scope


class ModelCall:
    """The metering of one model call of a run whose budget is ``run``.

    Create it in the context the model call runs in (LangChain runs callbacks inline there), right before the call;
    :meth:`close` it in the same context right after, then :meth:`settle` it. A call made while another one's scope
    is open (a second prompt of one batched ``generate()``, or a handler inside ``ActGuardMiddleware``) shares that
    scope.
    """

    __slots__ = ("mark", "model", "owner", "prompt", "provider", "run", "scope")

    def __init__(self, run: BudgetGuard, provider: str | None, model: str | None = None, prompt: object = None) -> None:
        self.run = run
        self.provider = provider
        self.model = model
        self.prompt = prompt  # for an estimate, if no layer reports the call's usage
        active = current_budget()
        self.owner = not isinstance(active, _Scope)
        if isinstance(active, _Scope):
            self.scope: BudgetGuard = active
        else:
            self.scope = _Scope()
            self.scope.__enter__()
        self.mark = metering.mark()

    def close(self) -> None:
        """Leave the call's scope (also where LangChain ends the call in another context: a guard leaves cleanly)."""
        if self.owner:
            self.scope.__exit__(None, None, None)

    def settle(self, reported: list[tuple[LLMUsage, str | None]], output: object = None) -> None:
        """Charge the call to the run's budget and, unless an SDK meter did already, to the caller's guard.

        The run's budget takes what LangChain ``reported``; when LangChain saw no usage (actguard's SDK meter asked
        for a stream's usage and kept it to itself), it takes what the SDK meter recorded in the scope; when no layer
        saw any, an estimate of the prompt and the ``output`` (warned about once; refused under a strict guard).
        """
        metered = metering.since(self.mark)  # the calls actguard's SDK meter charged while this one ran
        caller = self.scope.parent  # the SDK meter's record reported the call only if it charged a caller's guard
        for usage, call_id in reported:
            self.run.record(usage, call_id=call_id, reported=metering.already_reported(caller, call_id, metered))
            if not metered:  # charges the caller's active guard (the scope's parent)
                self.scope.record(usage, call_id=call_id, reported=True)
        if reported:
            return
        for call in metered:
            self.run.record(call.usage, call_id=call.call_id, reported=caller is not None)
        if not metered and output is not None:
            estimate = LLMUsage(
                self.model or "unknown",
                self.provider,
                metering.estimate_tokens(self.prompt),
                0,
                0,
                metering.estimate_tokens(output),
            )
            reason = f"a LangChain model call of {estimate.model!r} reported no token usage"
            metering.charge_estimate(self.run, estimate, reason=reason)
            metering.charge_estimate(self.scope, estimate, reason=reason, reported=True)  # and the caller's guard
