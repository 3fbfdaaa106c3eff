"""ActGuardCallbackHandler: meter every model call of a LangChain run and stop the run once its budget is spent."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult

from actguard import BudgetGuard, LLMUsage, current_budget
from actguard.runs import RunBudgets, check_call
from actguard_langchain._call import ModelCall
from actguard_langchain._usage import call_id_of, model_of, provider_of, usage_from_llm_output, usage_from_message

__all__ = ["ActGuardCallbackHandler"]


class _QuietRefusals(logging.Filter):
    """Drop LangChain's "Error in ActGuardCallbackHandler... callback" warning for a budget refusal: the refusal
    propagates to the caller as BudgetExceededError, so the warning only repeats it (misleadingly, as an error)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Error in ActGuardCallbackHandler.") and "BudgetExceededError(" in message)


_QUIET = _QuietRefusals()
logging.getLogger("langchain_core.callbacks.manager").addFilter(_QUIET)  # idempotent: one module-level instance

_MAX_LIVE_CALLS = 100_000  # model calls between start and end (a call whose end never comes is dropped eventually)


class ActGuardCallbackHandler(BaseCallbackHandler):
    """A LangChain callback handler that meters every chat-model and LLM call into a budget per top-level run.

    Pass it in the invocation config, so that it sees the whole run::

        handler = ActGuardCallbackHandler(user_id="alice", usd_limit=0.05)
        try:
            agent.invoke(inputs, config={"callbacks": [handler]})
        except actguard.BudgetExceededError as exc:
            print("stopped:", exc)
        print(handler.last_budget.usd_used)

    Each top-level run gets its own :class:`~actguard.BudgetGuard` with these limits, read after the run with
    :meth:`budget_for` (by the root run id, e.g. the ``run_id`` you put in the config) or :attr:`last_budget`.
    Inside an active ``BudgetGuard`` the run's calls are charged to that guard too, and its limits stop the run as
    well. One handler can be shared by concurrent runs.

    Usage comes from each response's ``usage_metadata`` (input incl. cached, output incl. reasoning), streaming
    included; the model name from the response, else the run's ``ls_model_name``. A call that actguard's SDK meter
    (OpenAI, Anthropic, Google) also sees counts once, streaming included. Once a limit is crossed,
    the next model call of the run is refused before it reaches the provider: :class:`~actguard.BudgetExceededError`
    comes out of ``invoke`` / ``ainvoke`` / ``stream``. The handler is synchronous and sets ``raise_error`` and
    ``run_inline``, so LangChain propagates its refusal on the sync and the async paths alike (LangChain swallows
    errors of async handlers on the sync path).

    Args:
        user_id: who the spend is for.
        usd_limit: stop a run once it spent this many USD.
        token_limit: stop a run once it used this many tokens.
        name: a label for errors and events.
        max_runs: how many finished runs' budgets stay readable.
        **budget_options: further keyword arguments of :class:`~actguard.BudgetGuard` for each run's budget
            (``strict``, ``on_unknown_model``, ``fallback_price``, ``shared``, ``window``, ``store``). ``strict``
            checks each call's ``max_tokens`` (when the model reports it) against what is left; actguard's SDK
            meter adds the prompt estimate for calls made through the OpenAI, Anthropic and Google SDKs.
    """

    raise_error: bool = True
    run_inline: bool = True

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
        super().__init__()
        self.runs = RunBudgets(
            user_id, usd_limit, token_limit, name, max_runs=max_runs, owner="ActGuardCallbackHandler", **budget_options
        )
        self._lock = threading.Lock()
        self._calls: OrderedDict[UUID, tuple[ModelCall, str | None, str | None]] = OrderedDict()

    # -- readings -------------------------------------------------------------------------------------------
    def budget_for(self, run_id: Hashable) -> BudgetGuard | None:
        """The budget of the top-level run ``run_id`` (or of the top-level run a run belongs to), or None."""
        return self.runs.budget_for(run_id)

    @property
    def last_budget(self) -> BudgetGuard | None:
        """The budget of the most recently started top-level run (use :meth:`budget_for` with concurrent runs)."""
        return self.runs.last_budget

    @property
    def budget_options(self) -> dict[str, Any]:
        """The :class:`~actguard.BudgetGuard` options each run's budget gets."""
        return dict(self.runs.budget_options)

    # -- model calls ----------------------------------------------------------------------------------------
    def _model_start(
        self, run_id: UUID, parent_run_id: UUID | None, metadata: dict[str, Any] | None, prompt: object = None
    ) -> None:
        guard = self.runs.start(run_id, parent_run_id)
        meta = metadata or {}
        model = meta.get("ls_model_name")
        provider = provider_of(meta.get("ls_provider"))
        max_tokens = meta.get("ls_max_tokens")
        try:
            check_call(
                [guard, current_budget()],
                model if isinstance(model, str) else None,
                provider=provider,
                max_output_tokens=max_tokens if type(max_tokens) is int else None,
            )
        except Exception:
            self.runs.end(run_id)
            raise
        call = ModelCall(guard, provider, model if isinstance(model, str) else None, prompt)
        with self._lock:
            self._calls[run_id] = (call, model if isinstance(model, str) else None, provider)
            if len(self._calls) > _MAX_LIVE_CALLS:
                self._calls.popitem(last=False)[1][0].close()

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Refuse the call if the run's budget is spent; remember the model for metering."""
        self._model_start(run_id, parent_run_id, metadata, messages)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Refuse the call if the run's budget is spent; remember the model for metering."""
        self._model_start(run_id, parent_run_id, metadata, prompts)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Meter the call's usage into its run's budget."""
        self._meter(response, run_id)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Meter what a failed call reported (a broken stream's partial response), then forget the call."""
        response = kwargs.get("response")
        self._meter(response if isinstance(response, LLMResult) else None, run_id)

    def _meter(self, response: LLMResult | None, run_id: UUID) -> None:
        with self._lock:
            entry = self._calls.pop(run_id, None)
        self.runs.end(run_id)
        if entry is None:
            return
        call, ls_model, provider = entry
        call.close()
        if response is None:
            call.settle([])
        else:
            call.settle(_reported(response, ls_model, provider), [g.text for gs in response.generations for g in gs])

    # -- run tree (which top-level run a model call belongs to) -----------------------------------------------
    def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """Follow the run tree."""
        self.runs.start(run_id, parent_run_id)

    def on_tool_start(
        self, serialized: Any, input_str: str, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """Follow the run tree."""
        self.runs.start(run_id, parent_run_id)

    def on_retriever_start(
        self, serialized: Any, query: str, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        """Follow the run tree."""
        self.runs.start(run_id, parent_run_id)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Follow the run tree."""
        self.runs.end(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Follow the run tree."""
        self.runs.end(run_id)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Follow the run tree."""
        self.runs.end(run_id)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Follow the run tree."""
        self.runs.end(run_id)

    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any) -> None:
        """Follow the run tree."""
        self.runs.end(run_id)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Follow the run tree."""
        self.runs.end(run_id)

    def __repr__(self) -> str:
        r = self.runs
        return (
            f"ActGuardCallbackHandler(user_id={r.user_id!r}, usd_limit={r.usd_limit!r}, token_limit={r.token_limit!r})"
        )


def _reported(response: LLMResult, ls_model: str | None, provider: str | None) -> list[tuple[LLMUsage, str | None]]:
    """The usage LangChain reports for one call: per generation's ``usage_metadata``, else ``llm_output``'s."""
    found: list[tuple[LLMUsage, str | None]] = []
    for generations in response.generations:
        for generation in generations:
            message = getattr(generation, "message", None)
            usage = usage_from_message(message, model_of(message, response.llm_output, ls_model), provider)
            if usage is not None:
                found.append((usage, call_id_of(message)))
    if not found:
        usage = usage_from_llm_output(response.llm_output, model_of(None, response.llm_output, ls_model), provider)
        if usage is not None:
            found.append((usage, None))
    return found
