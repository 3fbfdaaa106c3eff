"""ActGuardModel: a budget per agent run, through pydantic-ai's ``WrapperModel`` (no capability in the run)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from pydantic_ai.models import Model
from pydantic_ai.models.wrapper import WrapperModel

from actguard import BudgetGuard, current_budget
from actguard.exceptions import ConfigError
from actguard.runs import RunBudgets
from actguard_pydantic_ai._compat import current_run_context
from actguard_pydantic_ai._landing import noted
from actguard_pydantic_ai._requests import PerRunBudgets, check, meter

__all__ = ["ActGuardModel"]


class ActGuardModel(PerRunBudgets, WrapperModel):
    """A model that gives each agent run using it a budget: every request is metered, and once a limit is crossed
    the next request is refused before it is sent.

    Wrap the agent's model::

        model = ActGuardModel("openai:gpt-4o", user_id="alice", usd_limit=0.05)
        agent = Agent(model, tools=[...])
        try:
            result = await agent.run("Refund order o1")
        except actguard.BudgetExceededError as exc:
            print("stopped:", exc, model.budget_for(exc).usd_used)
        print(model.budget_for(result).usd_used)

    The same budget rule as :class:`~actguard_pydantic_ai.ActGuardCapability` (one shared implementation): each
    run (``run``, ``run_sync``, ``run_stream``, ``iter``) gets its own :class:`~actguard.BudgetGuard`, found by the
    run's ``run_id`` at its first request and read afterwards with :meth:`budget_for` (the run's result, its
    ``run_id`` or the error it raised) or :attr:`last_budget`. Before each request the run's budget and every
    guard enclosing it are checked (a spent one raises :class:`~actguard.BudgetExceededError` to the caller of the
    run, with one ``budget`` / ``llm_call`` / ``blocked`` event, and nothing is sent); a model without a price
    under a ``usd_limit`` raises :class:`~actguard.UnknownModelPriceError`. While a request is sent (and its stream
    read) the run's budget is the active ``BudgetGuard``, nested in the one active where the run started, so
    actguard's SDK meter charges the OpenAI, Anthropic and Google SDK calls to it and cuts a stream that crosses a
    limit; other models are metered from the usage on pydantic-ai's ``ModelResponse``, once (under the provider's
    response id), or an estimate with a warning when a response reports none. Every attempt of a request is
    metered. Once a budget has warned (``warn_at=``), each request carries the landing note, in that request only.

    What the capability does and this model does not: the run's budget is active only around its model requests,
    so an agent run or an SDK call made inside one of the run's tools is not charged to it (it is to a
    ``BudgetGuard`` active around the run). What it saves: pydantic-ai runs every hook of every capability with
    its own copy of the run context, which costs a run about 5% on its own (pydantic/pydantic-ai#8587); a wrapped
    model costs one call per request.

    A request made outside an agent run (``model.request(...)`` called directly) is a run of its own.

    Args:
        wrapped: the model to send requests to (a ``Model`` or a name such as ``"openai:gpt-4o"``).
        user_id: who the spend is for.
        usd_limit: stop a run once it spent this many USD.
        token_limit: stop a run once it used this many tokens.
        name: a label for errors and events.
        max_runs: how many runs' budgets stay readable (oldest dropped first); more runs than this at once would
            lose a live run's budget.
        **budget_options: further :class:`~actguard.BudgetGuard` options for each run's budget (``strict``,
            ``on_unknown_model`` / ``fallback_price``, ``warn_at`` / ``on_warn``, ``shared`` / ``window`` /
            ``store``), as for the capability.

    Raises:
        ConfigError: ``wrapped`` is not a model or a model name, any argument :class:`~actguard.BudgetGuard`
            refuses (checked now), or a pydantic-ai release that no longer tells a model which run a request
            belongs to.
    """

    runs: RunBudgets

    def __init__(
        self,
        wrapped: Model | str,
        user_id: str | None = None,
        usd_limit: float | None = None,
        token_limit: int | None = None,
        name: str | None = None,
        *,
        max_runs: int = 1000,
        **budget_options: Any,
    ) -> None:
        if not isinstance(wrapped, (Model, str)):
            raise ConfigError(
                f"ActGuardModel(wrapped=...) must be a pydantic-ai Model or a model name such as 'openai:gpt-4o', "
                f"got {wrapped!r}"
            )
        if current_run_context is None:  # pragma: no cover - no such release yet
            raise ConfigError(
                "ActGuardModel cannot tell which run a request belongs to in this pydantic-ai release: "
                "use ActGuardCapability"
            )
        self.runs = RunBudgets(
            user_id, usd_limit, token_limit, name, max_runs=max_runs, owner="ActGuardModel", **budget_options
        )
        super().__init__(cast(Any, wrapped))  # pydantic-ai < 2 types it as its known model names only
        self._last_run: tuple[Any, BudgetGuard] | None = None

    def _budget(self, run_context: Any = None) -> BudgetGuard:
        if run_context is None and current_run_context is not None:
            run_context = current_run_context()
        run_id = getattr(run_context, "run_id", None)
        last = self._last_run  # one read: another thread may replace the pair, never tear it
        if run_id is not None and last is not None and last[0] == run_id:
            return last[1]  # the run of the previous request, as is usual: no registry lookup
        budget = self._budget_of_run(run_id)
        self._last_run = (run_id, budget)
        return budget

    async def request(self, messages: Any, model_settings: Any, model_request_parameters: Any) -> Any:
        budget = self._budget()
        entered = _enter(budget)
        try:
            mark = await check(self.runs, budget, self.wrapped, model_settings)
            response = await self.wrapped.request(noted(messages, budget), model_settings, model_request_parameters)
            await meter(budget, mark, self.wrapped, messages, response)
        except Exception as error:  # readable by budget_for(error): a refusal, a stop by the SDK meter, any failure
            self.runs.attach(error, budget)
            raise
        finally:
            if entered:
                await _leave(budget)
        return response

    @asynccontextmanager
    async def request_stream(
        self, messages: Any, model_settings: Any, model_request_parameters: Any, run_context: Any = None
    ) -> AsyncIterator[Any]:
        budget = self._budget(run_context)
        entered = _enter(budget)  # active while the stream is read: the SDK meter cuts it at a limit
        try:
            mark = await check(self.runs, budget, self.wrapped, model_settings)
            async with self.wrapped.request_stream(
                noted(messages, budget), model_settings, model_request_parameters, run_context
            ) as stream:
                try:
                    yield stream
                finally:  # read to the end or not: what was streamed is charged
                    await meter(budget, mark, self.wrapped, messages, stream.get())
        except Exception as error:
            self.runs.attach(error, budget)
            raise
        finally:
            if entered:
                await _leave(budget)

    def __repr__(self) -> str:
        runs = self.runs
        return (
            f"ActGuardModel({self.wrapped!r}, user_id={runs.user_id!r}, usd_limit={runs.usd_limit!r}, "
            f"token_limit={runs.token_limit!r})"
        )


def _enter(budget: BudgetGuard) -> bool:
    """Make ``budget`` the active guard unless it is already; whether it was entered here."""
    if current_budget() is budget:
        return False
    budget.__enter__()  # no store work (a shared budget first touches its store at a check)
    return True


async def _leave(budget: BudgetGuard) -> None:
    """Leave ``budget``; a shared one hands back what it still holds for a failed request, off the event loop."""
    if budget.shared:
        await budget.__aexit__(None, None, None)
    else:
        budget.__exit__(None, None, None)
