"""One model call: charged once to the run's budget and to the caller's active BudgetGuard.

actguard's SDK meters (OpenAI, Anthropic, Google) record into whatever ``BudgetGuard`` is current when the SDK call is
made, under the provider's response id; LangChain reports the same call with its own usage and, when streaming, no
provider id at all (langchain-openai drops it). So for the duration of each model call a limitless scope guard is
made current (nested in the caller's active guard): if an SDK meter recorded the call into it, that record is the
call's usage, and the caller's guard was charged by it already; otherwise LangChain's usage is charged to both.
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
    :meth:`close` it in the same context right after, then :meth:`settle` it.
    """

    __slots__ = ("provider", "run", "scope", "target")

    def __init__(self, run: BudgetGuard, provider: str | None) -> None:
        self.run = run
        self.provider = provider
        active = current_budget()
        if isinstance(active, _Scope):  # a second prompt of one batched generate(): its scope is already open
            self.scope: _Scope | None = None
            self.target = active.parent
        else:
            self.scope = _Scope()
            self.scope.__enter__()
            self.target = active

    @staticmethod
    def check(run: BudgetGuard) -> None:
        """Raise ``BudgetExceededError`` if the run's budget, or the caller's active guard, is spent."""
        run.check()
        active = current_budget()
        if active is not None:
            active.check()

    def close(self) -> None:
        """Leave the call's scope (a no-op where LangChain ended the call in another context)."""
        if self.scope is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                self.scope.__exit__(None, None, None)

    def settle(self, reported: list[tuple[LLMUsage, str | None]]) -> None:
        """Charge the call: what an SDK meter recorded in its scope, else what LangChain ``reported``."""
        scope = self.scope
        if scope is not None and scope.usage.calls:
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
            return
        for usage, call_id in reported:
            self.run.record(usage, call_id=call_id)
            if self.target is not None:
                self.target.record(usage, call_id=call_id)
