"""A budget per agent run on pydantic-ai's offline models, through ActGuardCapability and through ActGuardModel (the
``via`` fixture runs each test both ways): checks before each request, metering, readings."""

from __future__ import annotations

from contract import require

require("pydantic_ai")

import asyncio  # noqa: E402
import warnings  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from pydantic_ai import Agent, RunContext  # noqa: E402
from pydantic_ai.models.test import TestModel  # noqa: E402
from pydantic_ai.models.wrapper import WrapperModel  # noqa: E402
from pydantic_ai.usage import RequestUsage  # noqa: E402
from pydantic_ai_harness import guarded  # noqa: E402

import actguard  # noqa: E402
from actguard import (  # noqa: E402
    BudgetExceededError,
    BudgetGuard,
    ConfigError,
    UnknownModelPriceError,
    UnmeteredCallError,
)
from actguard_pydantic_ai import ActGuardCapability, ActGuardModel  # noqa: E402
from actguard_pydantic_ai.testing import ScriptedModel, answer, tool_call  # noqa: E402

pytestmark = pytest.mark.usefixtures("store")


def run(agent: Agent[None, str], prompt: str, **kwargs: Any) -> Any:
    """agent.run in a fresh event loop (pydantic-ai 1.71's run_sync leaves its loop unclosed, a ResourceWarning)."""
    return asyncio.run(agent.run(prompt, **kwargs))


def search(query: str) -> str:
    """Search the knowledge base for the query."""
    return f"result for {query}"


@pytest.mark.parametrize(
    "kwargs",
    [{"usd_limit": -1}, {"token_limit": 1.5}, {"max_runs": 0}, {"shared": True}, {"colour": "red"}],
    ids=str,
)
def test_bad_arguments_raise_config_error_now(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"ActGuardCapability|BudgetGuard"):
        ActGuardCapability(**kwargs)
    with pytest.raises(ConfigError, match=r"ActGuardModel|BudgetGuard"):
        ActGuardModel(ScriptedModel([]), **kwargs)


@pytest.mark.parametrize("wrapped", [None, 123, Agent])
def test_actguard_model_refuses_what_is_not_a_model_naming_the_argument(wrapped: Any) -> None:
    with pytest.raises(ConfigError, match=r"ActGuardModel\(wrapped=\.\.\.\) must be a pydantic-ai Model"):
        ActGuardModel(wrapped)


def test_each_run_gets_its_own_budget_readable_by_result_and_run_id(via: str) -> None:
    script = [step for i in range(3) for step in (tool_call("search", {"query": "a"}, input_tokens=10 * (i + 1)), "ok")]
    agent, guard = guarded(via, ScriptedModel(script), tools=[search], user_id="alice", token_limit=10_000)
    results = [run(agent, "go") for _ in range(3)]
    budgets = [guard.budget_for(r) for r in results]
    assert [b.tokens_used for b in budgets if b is not None] == [10 + 20 + 120, 20 + 20 + 120, 30 + 20 + 120]
    assert guard.budget_for(results[1].run_id) is budgets[1]
    assert guard.last_budget is budgets[2]
    assert guard.budget_for("no-such-run") is None and guard.budget_for(object()) is None


def test_streamed_run_is_metered_and_readable(via: str) -> None:
    model = ScriptedModel([tool_call("search", {"query": "a"}), answer("all good")])
    agent, guard = guarded(via, model, tools=[search], token_limit=10_000)

    async def main() -> Any:
        async with agent.run_stream("go") as result:
            assert await result.get_output() == "all good"
        return result

    result = asyncio.run(main())
    budget = guard.budget_for(result)
    assert budget is not None and budget.usage.calls == 2
    run_usage = result.usage  # a property on pydantic-ai 2, a method before
    # FunctionModel estimates a stream's usage; the budget counts exactly what pydantic-ai reports
    assert budget.tokens_used == (run_usage if hasattr(run_usage, "total_tokens") else run_usage()).total_tokens


def test_a_stream_abandoned_after_its_first_text_is_charged_and_the_run_ends_cleanly(via: str) -> None:
    """The caller stops reading a streamed answer and leaves ``run_stream`` (pydantic-ai 2 then closes the model's
    stream from another task): what was streamed is charged, and no error reaches the caller."""
    model = ScriptedModel([answer("word " * 2000)])
    agent, guard = guarded(via, model, token_limit=100_000)

    async def main() -> None:
        async with agent.run_stream("go") as result:
            async for _ in result.stream_text(delta=True, debounce_by=None):
                break

    asyncio.run(main())
    budget = guard.last_budget
    assert budget is not None and budget.usage.calls == 1 and budget.usage.output_tokens > 0


def test_test_model_runs_are_metered(via: str) -> None:
    agent, guard = guarded(via, TestModel(), tools=[search], token_limit=10_000)
    result = run(agent, "go")
    budget = guard.budget_for(result)
    assert budget is not None and budget.usage.calls == 2 and budget.tokens_used > 0


def test_unpriced_model_is_refused_before_the_call_under_a_usd_limit(via: str) -> None:
    model = ScriptedModel(["never"], model="house-model-v1")
    agent, _ = guarded(via, model, usd_limit=1.0)
    with pytest.raises(UnknownModelPriceError):
        run(agent, "go")
    assert model.calls == 0


def test_strict_refuses_a_request_whose_max_tokens_does_not_fit(via: str) -> None:
    model = ScriptedModel(["never"])
    agent, _ = guarded(via, model, token_limit=1000, strict=True)
    with pytest.raises(BudgetExceededError):
        run(agent, "go", model_settings={"max_tokens": 5000})
    assert model.calls == 0
    assert run(agent, "go", model_settings={"max_tokens": 500}).output == "never"


def test_a_run_nests_in_the_active_budget_guard_which_is_charged_and_enforced(via: str) -> None:
    model = ScriptedModel([tool_call("search", {"query": "a"}), answer("ok"), "second run"])
    agent, _ = guarded(via, model, tools=[search], token_limit=10_000)
    with BudgetGuard(user_id="alice", token_limit=300) as outer:
        run(agent, "go")
        assert outer.tokens_used == 240
        with pytest.raises(BudgetExceededError) as caught:
            run(agent, "again")  # the run's own budget is fresh; the enclosing one has 60 tokens left
            run(agent, "and again")
    assert caught.value.limit == 300
    assert model.calls == 3


def test_an_agent_run_inside_a_tool_is_charged_to_the_outer_run() -> None:
    capability = ActGuardCapability(token_limit=10_000)
    inner = Agent(
        ScriptedModel([answer("inner says hi", input_tokens=1000, output_tokens=1)]), capabilities=[capability]
    )

    async def delegate(ctx: RunContext[None], question: str) -> str:
        """Ask the specialist."""
        return (await inner.run(question)).output

    outer_model = ScriptedModel([tool_call("delegate", {"question": "hi"}), answer("done")])
    outer = Agent(outer_model, tools=[delegate], capabilities=[capability])
    result = run(outer, "go")
    budget = capability.budget_for(result)
    assert budget is not None and budget.tokens_used == 120 + 120 + 1001


def test_under_actguard_model_an_agent_run_inside_a_tool_is_charged_to_the_guard_around_the_run() -> None:
    """ActGuardModel's budget is active only around the run's model requests (documented): a delegated run is not
    charged to the outer run, but it is to a BudgetGuard active around it."""
    inner = Agent(ActGuardModel(ScriptedModel([answer("inner says hi", input_tokens=1000, output_tokens=1)])))

    async def delegate(ctx: RunContext[None], question: str) -> str:
        """Ask the specialist."""
        return (await inner.run(question)).output

    model = ActGuardModel(
        ScriptedModel([tool_call("delegate", {"question": "hi"}), answer("done")]), token_limit=10_000
    )
    with BudgetGuard(token_limit=10_000) as around:
        result = run(Agent(model, tools=[delegate]), "go")
    budget = model.budget_for(result)
    assert budget is not None and budget.tokens_used == 120 + 120
    assert around.tokens_used == 120 + 120 + 1001


def test_a_request_outside_an_agent_run_is_a_run_of_its_own() -> None:
    from pydantic_ai.messages import ModelRequest, UserPromptPart
    from pydantic_ai.models import ModelRequestParameters

    model = ActGuardModel(ScriptedModel(["one", "two"]), token_limit=10_000)
    request = [ModelRequest(parts=[UserPromptPart(content="hi")])]
    first = asyncio.run(model.request(request, None, ModelRequestParameters()))
    budget = model.last_budget
    asyncio.run(model.request(request, None, ModelRequestParameters()))
    assert first.parts[0].content == "one"
    assert budget is not None and budget.usage.calls == 1 and model.last_budget is not budget


def test_budget_stop_reaches_the_caller_of_run_and_iter(via: str) -> None:
    script = [tool_call("search", {"query": f"q{i}"}) for i in range(5)]
    model = ScriptedModel(script)
    agent, guard = guarded(via, model, tools=[search], token_limit=200)
    with pytest.raises(BudgetExceededError) as caught:
        run(agent, "go")
    assert model.calls == 2
    budget = guard.budget_for(caught.value)
    assert budget is not None and budget.tokens_used == 240

    model = ScriptedModel(script)
    agent, guard = guarded(via, model, tools=[search], token_limit=200)

    async def main() -> None:
        async with agent.iter("go") as run:
            async for _ in run:
                pass

    with pytest.raises(BudgetExceededError):
        asyncio.run(main())
    assert model.calls == 2


def test_shared_budget_across_runs_of_one_user(store: actguard.MemoryStore, via: str) -> None:
    model = ScriptedModel(["one", "two", "three"], cycle=True)
    agent, capability = guarded(via, model, user_id="alice", name="chat", token_limit=240, shared=True, store=store)
    run(agent, "go")
    run(agent, "go")
    with pytest.raises(BudgetExceededError):
        run(agent, "go")
    assert model.calls == 2  # the third run's request was refused before it was made
    assert capability.last_budget is not None and capability.last_budget.shared_usage().tokens == 240


class NoUsageModel(WrapperModel):
    """A model whose responses report no token usage (as some providers do)."""

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        response = await super().request(*args, **kwargs)
        response.usage = RequestUsage()
        return response


@pytest.mark.parametrize("via, model_name", [("capability", "gpt-4o-2024-08-06"), ("model", "gpt-4o-2024-05-13")])
def test_a_response_without_usage_is_charged_an_estimate_with_a_warning(via: str, model_name: str) -> None:
    model = ScriptedModel([answer("x" * 400)], model=model_name)  # a model no other test warns about
    agent, guard = guarded(via, NoUsageModel(model), token_limit=10_000)
    with pytest.warns(actguard.ActGuardWarning, match="reported no token usage"):  # once per process and model
        result = run(agent, "go")
    budget = guard.budget_for(result)
    assert budget is not None and budget.usage.calls == 1
    assert budget.usage.output_tokens == 100  # 400 characters, one token per 4
    assert budget.usage.input_tokens > 0


def test_a_strict_budget_refuses_to_go_on_with_an_unmetered_call(via: str) -> None:
    agent, capability = guarded(via, NoUsageModel(ScriptedModel([answer("x" * 400)])), token_limit=10_000, strict=True)
    with warnings.catch_warnings(), pytest.raises(UnmeteredCallError):
        warnings.simplefilter("ignore", actguard.ActGuardWarning)  # warned once per process: maybe already
        run(agent, "go")
    budget = capability.last_budget
    assert budget is not None and budget.usage.output_tokens == 100  # charged the estimate, then refused


def test_every_attempt_of_a_request_is_metered(via: str) -> None:
    """pydantic-ai 2 attempts a request again when a hook rejects a response (RetryModelRequest): both were billed."""
    exceptions = pytest.importorskip("pydantic_ai.exceptions")
    if not hasattr(exceptions, "RetryModelRequest"):
        pytest.skip("this pydantic-ai has no RetryModelRequest (pydantic-ai 2)")
    from pydantic_ai.capabilities import AbstractCapability

    class RejectFirst(AbstractCapability[Any]):
        """Rejects the first response the run gets, as a content filter might."""

        def __init__(self) -> None:
            self.rejected = False

        async def after_model_request(self, ctx: Any, *, request_context: Any, response: Any) -> Any:
            if not self.rejected:
                self.rejected = True
                raise exceptions.RetryModelRequest()
            return response

    model = ScriptedModel([answer("rejected", input_tokens=10, output_tokens=1), answer("ok", output_tokens=2)])
    if via == "model":
        guard: Any = ActGuardModel(model, token_limit=10_000)
        agent = Agent(guard, capabilities=[RejectFirst()])
    else:
        guard = ActGuardCapability(token_limit=10_000)
        agent = Agent(model, capabilities=[RejectFirst(), guard])
    result = run(agent, "go")
    assert result.output == "ok" and model.calls == 2
    budget = guard.budget_for(result)
    assert budget is not None and budget.usage.calls == 2 and budget.tokens_used == 10 + 1 + 100 + 2
