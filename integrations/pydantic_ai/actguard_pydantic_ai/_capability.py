"""ActGuardCapability: a budget per agent run, through pydantic-ai's capabilities (its public run and model hooks)."""

from __future__ import annotations

import contextvars
from typing import Any

from pydantic_ai.capabilities import AbstractCapability

from actguard import BudgetGuard
from actguard.budget import metering
from actguard.runs import RunBudgets
from actguard_pydantic_ai._compat import REQUEST_ONLY_MESSAGES
from actguard_pydantic_ai._landing import with_landing_note
from actguard_pydantic_ai._requests import PerRunBudgets, check, meter

__all__ = ["ActGuardCapability"]


class _Run:
    """One run's state: its budget, and the metering mark (:func:`actguard.budget.metering.mark`) taken when its
    request in flight was checked, or its previous attempt metered (a run makes one model request at a time)."""

    __slots__ = ("budget", "mark")

    def __init__(self, budget: BudgetGuard) -> None:
        self.budget = budget
        self.mark: object = None


class ActGuardCapability(PerRunBudgets, AbstractCapability[Any]):
    """A capability giving each agent run a budget: every model call is metered, and once a limit is crossed the
    next model call is refused before it is made.

    Add it to the agent::

        guard = ActGuardCapability(user_id="alice", usd_limit=0.05)
        agent = Agent("openai:gpt-4o", capabilities=[guard])
        try:
            result = await agent.run("Refund order o1")
        except actguard.BudgetExceededError as exc:
            print("stopped:", exc)
        print(guard.last_budget.usd_used)

    Each run (``run``, ``run_sync``, ``run_stream``, ``iter``) gets its own :class:`~actguard.BudgetGuard` with these
    limits, read afterwards with :meth:`budget_for` (given the run's result, its ``run_id``, or the error it raised)
    or :attr:`last_budget`. The run's budget is the active ``BudgetGuard`` while the run lasts, nested in the one
    active where the run started (charged and enforced too), so:

    - calls through the OpenAI, Anthropic and Google SDKs are metered by actguard's SDK meter, which also cuts a
      stream as soon as its running estimate crosses a limit; other models are metered from the usage pydantic-ai
      reports on the ``ModelResponse``. Either way a call counts once: the SDK meter notes the calls it metered
      (:mod:`actguard.budget.metering`) and both record under the provider's response id. A response reporting no
      usage is charged an estimate, with a warning (:func:`actguard.budget.metering.charge_estimate`; a
      ``strict=True`` budget then raises :class:`~actguard.UnmeteredCallError`);
    - an agent run inside a tool of this run (delegation) is charged to this run's budget as well.

    Before each model request (``before_model_request``) the run's budget and every enclosing one are checked
    (:func:`actguard.runs.check_call`): a spent budget raises :class:`~actguard.BudgetExceededError` to the caller
    of the run, with one ``budget`` / ``llm_call`` / ``blocked`` event, and nothing is sent. A model without a price
    under a ``usd_limit`` raises :class:`~actguard.UnknownModelPriceError` before the call.

    Soft landing: once the run's budget (``warn_at=``, a budget option) or an enclosing one has warned, each later
    model request carries :func:`actguard.budget.landing_note` ("finish with what you have") as a system prompt part
    of its last message, in that request only (``result.all_messages()`` never holds it). The hard limit still
    stops the run.

    pydantic-ai's own ``UsageLimits`` keep working alongside: whichever limit is reached first stops the run
    (``UsageLimitExceeded`` from pydantic-ai, ``BudgetExceededError`` from actguard).

    Args:
        user_id: who the spend is for.
        usd_limit: stop a run once it spent this many USD.
        token_limit: stop a run once it used this many tokens.
        name: a label for errors and events.
        max_runs: how many finished runs' budgets stay readable (oldest dropped first).
        **budget_options: further :class:`~actguard.BudgetGuard` options for each run's budget (``strict``, which
            checks each call's worst case with the request's ``max_tokens`` setting; ``on_unknown_model``,
            ``fallback_price``; ``warn_at`` / ``on_warn``, the soft landing above; ``shared`` / ``window`` /
            ``store`` make every run of one ``user_id`` and ``name`` share one budget in the store).

    Raises:
        ConfigError: for any argument :class:`~actguard.BudgetGuard` refuses (checked now).
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
        self.runs = RunBudgets(
            user_id, usd_limit, token_limit, name, max_runs=max_runs, owner="ActGuardCapability", **budget_options
        )
        self._active: contextvars.ContextVar[_Run | None] = contextvars.ContextVar(
            "actguard_pydantic_ai_run_budget", default=None
        )

    # -- pydantic-ai hooks ----------------------------------------------------------------------------------------
    # One instance serves every run (pydantic-ai re-extracts a capability's configuration for each run whose
    # for_run returns a new instance, which costs more than everything actguard does in a run): the run's state
    # travels in a context variable that pydantic-ai carries from wrap_run into the run's model requests.
    # The check and the metering are before_model_request / after_model_request rather than one wrap_model_request:
    # pydantic-ai dispatches the before / after hooks to every capability anyway, while a wrap_model_request adds a
    # chain of wrappers (and copies of the run context) to every request, which cost more than the check itself.
    def _run(self, ctx: Any) -> _Run:
        run = self._active.get()
        if run is None:  # a request outside wrap_run: the budget of its run id, opened at its first request
            run = _Run(self._budget_of_run(getattr(ctx, "run_id", None)))
        return run

    async def wrap_run(self, ctx: Any, *, handler: Any) -> Any:
        """Run with the run's budget active (nested in the caller's), and make it readable by the result or error."""
        budget = self.runs.open(getattr(ctx, "run_id", None))
        token = self._active.set(_Run(budget))
        try:
            async with budget:  # its exit hands back what a shared budget still holds, off the event loop
                result = await handler()
        except Exception as error:
            self.runs.attach(error, budget)
            raise
        finally:
            self._active.reset(token)
        self.runs.attach(result, budget)
        return result

    async def before_model_request(self, ctx: Any, request_context: Any) -> Any:
        """Refuse the request if the run's budget (or an enclosing one) is spent; once one has warned, add the
        landing note to this request (:mod:`actguard_pydantic_ai._landing`)."""
        run = self._run(ctx)
        model = getattr(request_context, "model", None) or getattr(ctx, "model", None)
        run.mark = await check(self.runs, run.budget, model, getattr(request_context, "model_settings", None))
        if REQUEST_ONLY_MESSAGES:
            return with_landing_note(request_context, run.budget)
        return request_context

    # Only where needed: pydantic-ai >= 2 chains the wrap_model_request of each capability that defines one into
    # every request, which costs more than the hooks above.
    if not REQUEST_ONLY_MESSAGES:

        async def wrap_model_request(self, ctx: Any, *, request_context: Any, handler: Any) -> Any:
            """Send the request with the landing note (pydantic-ai < 2.54 would keep it in the run's history if
            ``before_model_request`` returned it)."""
            return await handler(with_landing_note(request_context, self._run(ctx).budget))

    async def after_model_request(self, ctx: Any, *, request_context: Any, response: Any) -> Any:
        """Meter the response (once, whoever else saw the call). Called for each attempt of a request (pydantic-ai
        2 sends another when a hook asks for one): each was billed."""
        run = self._run(ctx)
        model = getattr(request_context, "model", None) or getattr(ctx, "model", None)
        try:
            await meter(run.budget, run.mark, model, getattr(request_context, "messages", None), response)
        finally:
            run.mark = metering.mark()  # a next attempt's calls are the ones noted after this one's
        return response

    def __repr__(self) -> str:
        runs = self.runs
        return (
            f"ActGuardCapability(user_id={runs.user_id!r}, usd_limit={runs.usd_limit!r}, "
            f"token_limit={runs.token_limit!r})"
        )
