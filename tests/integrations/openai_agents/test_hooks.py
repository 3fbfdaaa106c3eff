"""ActGuardRunHooks and budget_guardrail over real Runner runs with a scripted model."""

from __future__ import annotations

from contract import require

require("agents")

import asyncio  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from agents import (  # noqa: E402
    Agent,
    InputGuardrailTripwireTriggered,
    ModelBehaviorError,
    Runner,
    function_tool,
    handoff,
)
from agents_harness import consume  # noqa: E402

import actguard  # noqa: E402
from actguard import BudgetExceededError, BudgetGuard, ConfigError, LLMUsage, UnknownModelPriceError  # noqa: E402
from actguard.exceptions import ActGuardWarning  # noqa: E402
from actguard.testing import capture_events  # noqa: E402
from actguard_openai_agents import HAS_SEQUENTIAL_GUARDRAILS, ActGuardRunHooks, budget_guardrail  # noqa: E402
from actguard_openai_agents.testing import ScriptedModel, answer, tool_call  # noqa: E402

pytestmark = pytest.mark.usefixtures("store")


@function_tool
def search(query: str) -> str:
    """Search the knowledge base."""
    return f"result for {query}"


def searching_model(calls: int = 3, **usage: int) -> ScriptedModel:
    steps = [tool_call("search", {"query": f"q{i}"}, **usage) for i in range(calls)]
    return ScriptedModel([*steps, answer("done")])


async def run(mode: str, agent: Agent[Any], hooks: ActGuardRunHooks) -> Any:
    if mode == "streamed":
        result = Runner.run_streamed(agent, "go", hooks=hooks)
        await consume(result)
        return result
    return await Runner.run(agent, "go", hooks=hooks)


@pytest.mark.parametrize("mode", ["run", "streamed"])
async def test_budget_stops_the_run_before_the_next_model_call(mode: str) -> None:
    model = searching_model(input_tokens=500, output_tokens=100, cached_input_tokens=200, reasoning_tokens=40)
    hooks = ActGuardRunHooks(user_id="alice", token_limit=1000)
    with pytest.raises(BudgetExceededError) as info:
        await run(mode, Agent(name="a", model=model, tools=[search]), hooks)
    assert model.calls == 2  # the 2nd call crossed the limit: the 3rd was never made
    assert info.value.limit_type == "token" and info.value.used == 1200 and info.value.user_id == "alice"
    budget = hooks.budget_for(info.value)
    assert budget is hooks.last_budget and budget is not None
    usage = budget.usage
    assert (usage.calls, usage.input_tokens, usage.cached_input_tokens) == (2, 1000, 400)
    assert (usage.output_tokens, usage.reasoning_tokens) == (200, 80)
    assert budget.usd_used == pytest.approx(2 * (300 * 2.5 + 200 * 1.25 + 100 * 10) / 1e6)


async def test_a_refused_model_call_is_reported() -> None:
    model = searching_model(input_tokens=600, output_tokens=0)
    with capture_events() as events, pytest.raises(BudgetExceededError):
        await Runner.run(
            Agent(name="a", model=model, tools=[search]), "go", hooks=ActGuardRunHooks("bob", token_limit=1000)
        )
    [event] = events.of(category="budget", name="llm_call", outcome="blocked")
    assert event["user_id"] == "bob" and event["payload"]["limit_type"] == "token"


def test_run_sync_gets_the_budget_error() -> None:
    model = searching_model(input_tokens=500, output_tokens=100)
    hooks = ActGuardRunHooks(usd_limit=0.004)  # $0.00225 a call: crossed by the 2nd

    def run_sync() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())  # openai-agents 0.2 run_sync needs a current loop
        try:
            Runner.run_sync(Agent(name="a", model=model, tools=[search]), "go", hooks=hooks)
        finally:
            asyncio.get_event_loop().close()
            asyncio.set_event_loop(None)

    with pytest.raises(BudgetExceededError) as info:
        run_sync()
    assert info.value.limit_type == "usd"
    assert model.calls == 2


async def test_budget_is_readable_after_a_run_that_succeeds() -> None:
    model = searching_model(calls=1, input_tokens=10, output_tokens=5)
    hooks = ActGuardRunHooks()
    result = await Runner.run(Agent(name="a", model=model, tools=[search]), "go", hooks=hooks)
    budget = hooks.budget_for(result)
    assert budget is not None and budget.tokens_used == 15 + 120 and budget.usage.calls == 2
    assert hooks.budget_for(result.context_wrapper) is budget
    assert hooks.budget_for(object()) is None
    assert hooks.budget_for(ValueError("not from a run")) is None  # no weak references to builtin exceptions


async def test_usage_is_kept_when_the_run_ends_in_an_error() -> None:
    @function_tool(failure_error_function=None)
    def broken(query: str) -> str:
        """Always fails."""
        raise RuntimeError("backend down")

    model = ScriptedModel([tool_call("broken", {"query": "x"}, input_tokens=70, output_tokens=7), answer("never")])
    hooks = ActGuardRunHooks()
    with pytest.raises(Exception) as info:
        await Runner.run(Agent(name="a", model=model, tools=[broken]), "go", hooks=hooks)
    assert "backend down" in repr(info.value) or "backend down" in repr(info.value.__cause__)
    budget = hooks.budget_for(info.value) or hooks.last_budget
    assert budget is not None and budget.tokens_used == 77 and budget.usage.calls == 1


@pytest.mark.parametrize("mode", ["run", "streamed"])
async def test_usage_is_kept_when_the_model_misbehaves(mode: str) -> None:
    model = ScriptedModel(
        [
            tool_call("search", {"query": "a"}, input_tokens=11, output_tokens=1),
            tool_call("no_such_tool", {}, input_tokens=22, output_tokens=2),
        ]
    )
    hooks = ActGuardRunHooks()
    with pytest.raises(ModelBehaviorError) as info:
        await run(mode, Agent(name="a", model=model, tools=[search]), hooks)
    budget = hooks.budget_for(info.value)  # the SDK's error carries the run's data
    assert budget is not None and budget.tokens_used == 36 and budget.usage.calls == 2


async def test_model_name_comes_from_the_agent_or_the_run_config() -> None:
    model = ScriptedModel([answer("hi", input_tokens=1000, output_tokens=0)], model="gpt-4o-mini")
    hooks = ActGuardRunHooks()
    await Runner.run(Agent(name="a", model=model), "go", hooks=hooks)
    assert hooks.last_budget is not None and set(hooks.last_budget.usage_by_model) == {"gpt-4o-mini"}
    assert hooks.last_budget.usd_used == pytest.approx(1000 * 0.15 / 1e6)

    override = ActGuardRunHooks(model="gpt-4o")  # as RunConfig(model="gpt-4o") would set it
    await Runner.run(Agent(name="a", model=ScriptedModel(["hi"], model="gpt-4o-mini")), "go", hooks=override)
    assert override.last_budget is not None and set(override.last_budget.usage_by_model) == {"gpt-4o"}


async def test_handoff_charges_both_agents_to_one_budget() -> None:
    billing_model = ScriptedModel(
        [tool_call("search", {"query": "invoice"}, input_tokens=200, output_tokens=20), answer("refunded")]
    )
    billing = Agent(name="billing", model=billing_model, tools=[search])
    triage_model = ScriptedModel(
        [tool_call("transfer_to_billing", {}, input_tokens=50, output_tokens=5)], model="gpt-4o-mini"
    )
    triage = Agent(name="triage", model=triage_model, handoffs=[handoff(billing)])
    hooks = ActGuardRunHooks(user_id="alice")
    result = await Runner.run(triage, "refund me", hooks=hooks)
    assert result.final_output == "refunded"
    budget = hooks.budget_for(result)
    assert budget is not None
    by_model = budget.usage_by_model
    assert by_model["gpt-4o-mini"].calls == 1 and by_model["gpt-4o"].calls == 2
    assert budget.tokens_used == 55 + 220 + 120


async def test_handoff_does_not_reset_the_budget() -> None:
    billing_model = ScriptedModel(
        [tool_call("search", {"query": "invoice"}, input_tokens=400, output_tokens=0), answer("refunded")]
    )
    billing = Agent(name="billing", model=billing_model, tools=[search])
    triage = Agent(
        name="triage",
        model=ScriptedModel([tool_call("transfer_to_billing", {}, input_tokens=700, output_tokens=0)]),
        handoffs=[billing],
    )
    hooks = ActGuardRunHooks(token_limit=1000)
    with pytest.raises(BudgetExceededError):
        await Runner.run(triage, "refund me", hooks=hooks)
    assert billing_model.calls == 1  # the billing agent's 2nd call would have been the 3rd of the run


async def test_enclosing_budget_guard_is_charged_and_enforced() -> None:
    hooks = ActGuardRunHooks()  # no limits of its own
    model = searching_model(input_tokens=300, output_tokens=0)
    async with BudgetGuard(user_id="alice", token_limit=500) as outer:
        with pytest.raises(BudgetExceededError) as info:
            await Runner.run(Agent(name="a", model=model, tools=[search]), "go", hooks=hooks)
    assert info.value.limit == 500 and model.calls == 2
    assert outer.tokens_used == 600
    assert hooks.last_budget is not None and hooks.last_budget.tokens_used == 600


async def test_concurrent_runs_on_one_hooks_instance_are_isolated() -> None:
    hooks = ActGuardRunHooks(token_limit=10_000)

    async def one(i: int) -> Any:
        model = ScriptedModel(
            [tool_call("search", {"query": str(i)}, input_tokens=i + 1, output_tokens=1), answer("ok", input_tokens=i)]
        )
        return await Runner.run(Agent(name=f"a{i}", model=model, tools=[search]), "go", hooks=hooks)

    results = await asyncio.gather(*(one(i) for i in range(16)))
    for i, result in enumerate(results):
        budget = hooks.budget_for(result)
        assert budget is not None and budget.tokens_used == (i + 2) + (i + 20), i


async def test_budget_guardrail_trips_before_any_model_call() -> None:
    model = ScriptedModel(["never"])
    agent = Agent(name="a", model=model, input_guardrails=[budget_guardrail()])
    async with BudgetGuard(user_id="alice", token_limit=100) as outer:
        outer.record(LLMUsage(model="gpt-4o", input_tokens=100))
        with pytest.raises((InputGuardrailTripwireTriggered, BudgetExceededError)) as info:
            await Runner.run(agent, "go", hooks=ActGuardRunHooks())
    assert model.calls == 0
    if HAS_SEQUENTIAL_GUARDRAILS:  # older SDKs run it alongside the first model call, which the hooks refuse
        assert isinstance(info.value, InputGuardrailTripwireTriggered)
        error = info.value.guardrail_result.output.output_info
        assert isinstance(error, BudgetExceededError) and error.user_id == "alice"


@pytest.mark.skipif(not HAS_SEQUENTIAL_GUARDRAILS, reason="input guardrails run in parallel before openai-agents 0.6")
async def test_budget_guardrail_on_a_shared_budget_and_on_the_hooks() -> None:
    daily = BudgetGuard(user_id="alice", usd_limit=1.0)  # kept across runs, never entered
    model = ScriptedModel(["ok", "never"])
    agent = Agent(name="a", model=model, input_guardrails=[budget_guardrail(daily)])
    result = await Runner.run(agent, "go")
    assert result.final_output == "ok"
    daily.record(LLMUsage(model="gpt-4o", output_tokens=100_000))
    with pytest.raises(InputGuardrailTripwireTriggered):
        await Runner.run(agent, "go")
    assert model.calls == 1

    hooks = ActGuardRunHooks()
    agent = Agent(name="a", model=ScriptedModel(["ok"]), input_guardrails=[budget_guardrail(hooks)])
    with BudgetGuard(token_limit=10) as outer:
        outer.record(LLMUsage(model="gpt-4o", input_tokens=10))
        with pytest.raises(InputGuardrailTripwireTriggered):
            await Runner.run(agent, "go", hooks=hooks)


async def test_an_unpriced_model_is_refused_before_the_call_under_a_usd_limit() -> None:
    model = ScriptedModel(["hi"], model="acme-finetune-7")
    with pytest.raises(UnknownModelPriceError):
        await Runner.run(Agent(name="a", model=model), "go", hooks=ActGuardRunHooks(usd_limit=1.0))
    assert model.calls == 0
    hooks = ActGuardRunHooks(
        usd_limit=1.0, on_unknown_model="warn", fallback_price={"input_per_mtok": 1.0, "output_per_mtok": 2.0}
    )
    with pytest.warns(ActGuardWarning, match="acme-finetune-7"):
        await Runner.run(Agent(name="a", model=model), "go", hooks=hooks)
    assert hooks.last_budget is not None and hooks.last_budget.usd_used == pytest.approx((100 + 40) / 1e6)


async def test_runs_of_one_user_can_share_a_budget_in_the_store() -> None:
    hooks = ActGuardRunHooks(user_id="alice", name="daily", token_limit=1000, shared=True, window="1d")
    first = ScriptedModel([answer("one", input_tokens=700, output_tokens=0)])
    await Runner.run(Agent(name="a", model=first), "go", hooks=hooks)
    second = ScriptedModel([tool_call("search", {"query": "q"}, input_tokens=400, output_tokens=0), answer("never")])
    with pytest.raises(BudgetExceededError) as info:
        await Runner.run(Agent(name="a", model=second, tools=[search]), "go", hooks=hooks)
    assert second.calls == 1 and info.value.used == 1100


def test_bad_arguments_fail_at_construction() -> None:
    with pytest.raises(ConfigError, match="max_runs"):
        ActGuardRunHooks(max_runs=0)
    with pytest.raises(ConfigError, match="token_limit"):
        ActGuardRunHooks(token_limit=-1)
    with pytest.raises(ConfigError, match="model"):
        ActGuardRunHooks(model=42)
    with pytest.raises(ConfigError, match="strict"):
        ActGuardRunHooks(strict="yes")
    with pytest.raises(ConfigError, match="on_unknown_model"):
        ActGuardRunHooks(on_unknown_model="ignore")
    with pytest.raises(ConfigError, match="budget"):
        budget_guardrail("alice")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="name"):
        budget_guardrail(name="")
    assert isinstance(actguard.current_budget(), type(None))


def test_usage_and_call_id_are_read_from_any_model_response() -> None:
    from types import SimpleNamespace

    from actguard_openai_agents._usage import call_id_of, usage_of

    usage = SimpleNamespace(
        input_tokens=10,
        input_tokens_details={"cached_tokens": 4},
        output_tokens=5,
        output_tokens_details=SimpleNamespace(reasoning_tokens=2),
    )
    response = SimpleNamespace(usage=usage, response_id="__fake_id__", output=[])
    assert usage_of(response, "litellm/anthropic/claude-3-5-sonnet") == LLMUsage(
        model="claude-3-5-sonnet",
        provider="anthropic",
        input_tokens=10,
        cached_input_tokens=4,
        output_tokens=5,
        reasoning_tokens=2,
    )
    assert usage_of(response, "openai/gpt-4o").model == "gpt-4o"
    assert call_id_of(response) is None  # the SDK's placeholder for a streamed Chat Completions response
    response.output = [SimpleNamespace(provider_data={"model": "gpt-4o", "response_id": "chatcmpl-1"})]
    assert call_id_of(response) == "chatcmpl-1"
    response.response_id = "resp_1"
    assert call_id_of(response) == "resp_1"


async def test_strict_refuses_a_call_whose_max_tokens_do_not_fit() -> None:
    """strict=True checks the agent's model_settings.max_tokens against what is left, before the call."""
    from agents import ModelSettings

    hooks = ActGuardRunHooks(token_limit=1000, strict=True)
    model = searching_model(calls=3)
    agent = Agent(name="a", model=model, tools=[search], model_settings=ModelSettings(max_tokens=2000))
    with pytest.raises(BudgetExceededError) as info:
        await Runner.run(agent, "go", hooks=hooks)
    assert model.calls == 0 and info.value.used == 2000
