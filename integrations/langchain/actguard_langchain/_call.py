"""One model call: charged once to the run's budget and to the caller's active BudgetGuard.

actguard's SDK meters (OpenAI, Anthropic, Google) record into whatever ``BudgetGuard`` is current when the SDK call is
made, under the provider's response id; LangChain reports the same call with its own usage and, when streaming, no
provider id at all (langchain-openai drops it). So for the duration of each model call a limitless scope guard is
made current (nested in the caller's active guard): if an SDK meter recorded the call into it, the caller's guard
was charged by it already; otherwise LangChain's usage is charged to the scope, hence to the caller's guard.
"""

from __future__ import annotations

import contextlib

from actguard import BudgetGuard, LLMUsage, current_budget

__all__ = ["ModelCall"]


class _Scope(BudgetGuard):
    """A limitless guard, current for the duration of one model call."""


class ModelCall:
    """The metering of one model call of a run whose budget is ``run``.

    Create it in the context the model call runs in (LangChain runs callbacks inline there), right before the call;
    :meth:`close` it in the same context right after, then :meth:`settle` it. A call made while another one's scope
    is open (a second prompt of one batched ``generate()``, or a handler inside ``ActGuardMiddleware``) shares that
    scope.
    """

    __slots__ = ("before", "owner", "provider", "run", "scope")

    def __init__(self, run: BudgetGuard, provider: str | None) -> None:
        self.run = run
        self.provider = provider
        active = current_budget()
        self.owner = not isinstance(active, _Scope)
        if isinstance(active, _Scope):
            self.scope: BudgetGuard = active
        else:
            self.scope = _Scope()
            self.scope.__enter__()
        self.before = self.scope.usage.calls

    def close(self) -> None:
        """Leave the call's scope (a no-op where LangChain ended the call in another context)."""
        if self.owner:
            with contextlib.suppress(ValueError, RuntimeError):
                self.scope.__exit__(None, None, None)

    def settle(self, reported: list[tuple[LLMUsage, str | None]]) -> None:
        """Charge the call to the run's budget and, unless an SDK meter did already, to the caller's guard.

        The run's budget takes what LangChain ``reported``; when LangChain saw no usage (actguard's SDK meter asked
        for a stream's usage and kept it to itself), it takes what the SDK meter recorded in the scope.
        """
        scope = self.scope
        metered = scope.usage.calls > self.before
        for usage, call_id in reported:
            self.run.record(usage, call_id=call_id)
            if not metered:
                scope.record(usage, call_id=call_id)  # charges the caller's active guard (the scope's parent)
        if reported or not metered:
            return
        for model, used in scope.usage_by_model.items():
            self.run.record(
                LLMUsage(
                    model,
                    self.provider,
                    input_tokens=used.input_tokens,
                    cached_input_tokens=used.cached_input_tokens,
                    cache_write_tokens=used.cache_write_tokens,
                    output_tokens=used.output_tokens,
                    reasoning_tokens=used.reasoning_tokens,
                )
            )
