"""guard_tool / guard_tools and custody_guardrail over real Runner runs with a scripted model."""

from __future__ import annotations

from contract import require

require("agents")

from typing import Any  # noqa: E402

import pytest  # noqa: E402
from agents import Agent, FunctionTool, Runner, function_tool  # noqa: E402

import actguard  # noqa: E402
from actguard import ConfigError, RateLimitExceeded  # noqa: E402
from actguard_openai_agents import HAS_TOOL_GUARDRAILS, custody_guardrail, guard_tool, guard_tools  # noqa: E402
from actguard_openai_agents.testing import ScriptedModel, answer, tool_call  # noqa: E402

pytestmark = pytest.mark.usefixtures("store")


def make_tools() -> tuple[FunctionTool, FunctionTool, list[str]]:
    deleted: list[str] = []

    @function_tool
    def list_orders(user_id: str) -> list[dict[str, str]]:
        """List the user's orders.

        Args:
            user_id: whose orders.
        """
        return [{"id": "o1"}, {"id": "o2"}]

    @function_tool
    def delete_order(order_id: str) -> str:
        """Delete an order by id."""
        deleted.append(order_id)
        return f"deleted:{order_id}"

    return list_orders, delete_order, deleted


def test_guarded_tool_keeps_name_description_and_schema() -> None:
    list_orders, _, _ = make_tools()
    guarded = guard_tool(list_orders, rate_limit={"max_calls": 5, "period": 60})
    assert isinstance(guarded, FunctionTool) and guarded is not list_orders
    assert guarded.name == "list_orders"
    assert guarded.description == list_orders.description
    assert guarded.params_json_schema == list_orders.params_json_schema
    assert guarded.strict_json_schema == list_orders.strict_json_schema
    assert list_orders.on_invoke_tool is not guarded.on_invoke_tool  # the original tool is left as it was


async def test_refusal_reaches_the_model_and_the_run_goes_on() -> None:
    list_orders, _, _ = make_tools()
    [guarded] = guard_tools([list_orders], rate_limit={"max_calls": 1, "period": 60})
    model = ScriptedModel(
        [
            tool_call("list_orders", {"user_id": "alice"}),
            tool_call("list_orders", {"user_id": "alice"}),
            answer("ok"),
        ]
    )
    result = await Runner.run(Agent(name="a", model=model, tools=[guarded]), "go")
    assert result.final_output == "ok"
    first, second = model.tool_outputs()
    assert "o1" in first
    assert "rate limited" in second and "Retry after" in second


async def test_refusal_can_propagate_instead() -> None:
    list_orders, _, _ = make_tools()
    guarded = guard_tool(list_orders, on_refusal="raise", rate_limit={"max_calls": 1, "period": 60})
    model = ScriptedModel([tool_call("list_orders", {"user_id": "a"}), tool_call("list_orders", {"user_id": "a"})])
    with pytest.raises(Exception) as info:
        await Runner.run(Agent(name="a", model=model, tools=[guarded]), "go")
    chain: list[BaseException] = []
    error: BaseException | None = info.value
    while error is not None and len(chain) < 10:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(e, RateLimitExceeded) for e in chain), chain


async def test_custody_across_tools_and_agents() -> None:
    list_orders, delete_order, deleted = make_tools()
    reader = guard_tool(list_orders, prove={"kind": "order_id", "extract": "id"})
    writer = guard_tool(delete_order, enforce=[actguard.RequireFact("order_id", "order_id")])
    fulfilment = Agent(
        name="fulfilment",
        model=ScriptedModel([tool_call("delete_order", {"order_id": "o2"}), answer("done")]),
        tools=[writer],
    )
    support_model = ScriptedModel(
        [
            tool_call("delete_order", {"order_id": "o2"}),  # before any read: refused
            tool_call("list_orders", {"user_id": "alice"}),
            tool_call("transfer_to_fulfilment", {}),
        ]
    )
    support = Agent(name="support", model=support_model, tools=[reader, writer], handoffs=[fulfilment])
    with actguard.session("s1", {"user_id": "alice"}):
        result = await Runner.run(support, "delete o2")
    assert result.final_output == "done"
    refusal = support_model.tool_outputs()[0]
    assert "MISSING_FACT" in refusal and "o2" in refusal and "list_orders" in refusal
    assert deleted == ["o2"]  # the fulfilment agent's delete went through: the fact outlives the handoff


def make_flaky(calls: list[str]) -> Any:
    async def flaky_search(query: str) -> str:
        """Search a flaky backend."""
        calls.append(query)
        raise RuntimeError("backend down")

    return flaky_search


async def test_circuit_breaker_on_a_function_sees_its_failures() -> None:
    calls: list[str] = []
    breaker = {"name": "flaky_api", "max_fails": 2, "reset_timeout": 60}
    tool = guard_tool(make_flaky(calls), circuit_breaker=breaker)
    assert (tool.name, tool.params_json_schema) == ("flaky_search", function_tool(make_flaky([])).params_json_schema)
    model = ScriptedModel([*(tool_call("flaky_search", {"query": f"q{i}"}) for i in range(4)), answer("gave up")])
    result = await Runner.run(Agent(name="a", model=model, tools=[tool]), "go")
    assert result.final_output == "gave up"
    assert calls == ["q0", "q1"]  # the circuit opened after two failures: no more calls to the backend
    outputs = model.tool_outputs()
    assert all("error occurred" in o for o in outputs[:2]), outputs  # the SDK's own error text
    assert all("temporarily disabled" in o for o in outputs[2:]), outputs


async def test_circuit_breaker_on_a_function_tool_that_raises() -> None:
    calls: list[str] = []
    with pytest.raises(ConfigError, match="failure_error_function"):
        guard_tool(function_tool(make_flaky(calls)), circuit_breaker={"name": "flaky_api2", "max_fails": 1})
    tool = guard_tool(
        function_tool(make_flaky(calls), failure_error_function=None),
        circuit_breaker={"name": "flaky_api2", "max_fails": 1, "reset_timeout": 60},
    )
    model = ScriptedModel([tool_call("flaky_search", {"query": "a"}), answer("never")])
    with pytest.raises(Exception) as info:
        await Runner.run(Agent(name="a", model=model, tools=[tool]), "go")
    assert "backend down" in repr(info.value) + repr(info.value.__cause__)
    model = ScriptedModel([tool_call("flaky_search", {"query": "b"}), answer("ok")])
    await Runner.run(Agent(name="a", model=model, tools=[tool]), "go")
    assert calls == ["a"] and "temporarily disabled" in model.tool_outputs()[0]


async def test_refusal_from_a_guarded_function_can_propagate() -> None:
    def lookup(key: str) -> str:
        """Look a key up."""
        return key

    tool = guard_tool(lookup, on_refusal="raise", max_attempts=1)
    model = ScriptedModel([tool_call("lookup", {"key": "a"}), tool_call("lookup", {"key": "b"})])
    with actguard.RunContext(), pytest.raises(Exception) as info:
        await Runner.run(Agent(name="a", model=model, tools=[tool]), "go")
    chain: list[BaseException] = []
    error: BaseException | None = info.value
    while error is not None and len(chain) < 10:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(e, actguard.MaxAttemptsExceeded) for e in chain), chain


@pytest.mark.skipif(not HAS_TOOL_GUARDRAILS, reason="tool guardrails arrived in openai-agents 0.3.3")
async def test_custody_as_a_tool_input_guardrail() -> None:
    deleted: list[str] = []

    def delete_order(order_id: str) -> str:
        """Delete an order by id."""
        deleted.append(order_id)
        return f"deleted:{order_id}"

    writer = function_tool(
        delete_order, tool_input_guardrails=[custody_guardrail(actguard.RequireFact("order_id", "order_id"))]
    )
    list_orders, _, _ = make_tools()
    reader = guard_tool(list_orders, prove={"kind": "order_id", "extract": "id"})
    model = ScriptedModel(
        [
            tool_call("delete_order", {"order_id": "o1"}),
            tool_call("list_orders", {"user_id": "alice"}),
            tool_call("delete_order", {"order_id": "o1"}),
            answer("done"),
        ]
    )
    with actguard.session("s2", {"user_id": "alice"}):
        await Runner.run(Agent(name="a", model=model, tools=[reader, writer]), "go")
    outputs = model.tool_outputs()
    assert "MISSING_FACT" in outputs[0] and outputs[2] == "deleted:o1"
    assert deleted == ["o1"]


@pytest.mark.skipif(HAS_TOOL_GUARDRAILS, reason="this SDK has tool guardrails")
def test_custody_guardrail_says_what_it_needs() -> None:
    with pytest.raises(ConfigError, match=r"0\.3\.3"):
        custody_guardrail(actguard.RequireFact("order_id", "order_id"))


def test_bad_arguments_fail_at_decoration() -> None:
    list_orders, _, _ = make_tools()

    bad: Any = "list_orders"
    with pytest.raises(ConfigError, match="FunctionTool"):
        guard_tool(bad, rate_limit={"max_calls": 1, "period": 1})
    with pytest.raises(ConfigError, match="on_refusal"):
        guard_tool(list_orders, on_refusal="ignore")
    with pytest.raises(ConfigError):
        guard_tool(list_orders, rate_limit={"max_calls": 0, "period": 60})
    with pytest.raises(ConfigError):
        guard_tool(list_orders, enforce=[actguard.RequireFact("order_id", "no_such_argument")])
