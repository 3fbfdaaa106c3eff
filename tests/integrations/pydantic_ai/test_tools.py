"""guard_tool / guard_tools on pydantic-ai tools and toolsets: the tool unchanged for the model, the refusal rule."""

from __future__ import annotations

from contract import require

require("pydantic_ai")

import asyncio  # noqa: E402
import dataclasses  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from pydantic_ai import Agent, RunContext, Tool  # noqa: E402
from pydantic_ai.exceptions import UnexpectedModelBehavior  # noqa: E402
from pydantic_ai.toolsets import FunctionToolset  # noqa: E402

import actguard  # noqa: E402
from actguard import CircuitOpenError, ConfigError, RateLimitExceeded  # noqa: E402
from actguard_pydantic_ai import ActGuardToolset, guard_tool, guard_tools  # noqa: E402
from actguard_pydantic_ai.testing import ScriptedModel, answer, tool_call  # noqa: E402

pytestmark = pytest.mark.usefixtures("store")

LIMIT = {"rate_limit": {"max_calls": 1, "period": 60}}


def run(agent: Agent[Any, str], prompt: str = "go") -> Any:
    return asyncio.run(agent.run(prompt))


def lookup(query: str, limit: int = 3) -> str:
    """Look the query up.

    Args:
        query: what to look for.
        limit: how many results.
    """
    return f"found {query}"


def test_guarded_tool_keeps_name_description_schema_and_retries() -> None:
    original = Tool(lookup, name="kb_lookup", max_retries=4)
    guarded = guard_tool(original, **LIMIT)
    assert isinstance(guarded, Tool) and guarded is not original
    assert (guarded.name, guarded.description, guarded.max_retries) == ("kb_lookup", original.description, 4)
    assert guarded.function_schema.json_schema == original.function_schema.json_schema
    assert original.function is lookup  # the given tool is left as it was


def test_tool_taking_run_context_is_guarded() -> None:
    seen: list[Any] = []

    async def remember(ctx: RunContext[str], fact: str) -> str:
        """Remember a fact."""
        seen.append((ctx.deps, fact))
        return "ok"

    model = ScriptedModel([tool_call("remember", {"fact": "a"}), tool_call("remember", {"fact": "b"}), answer("done")])
    agent = Agent(model, deps_type=str, tools=[guard_tool(remember, **LIMIT)])
    asyncio.run(agent.run("go", deps="alice"))
    assert seen == [("alice", "a")]
    assert "rate limit" in model.tool_outputs()[1].lower()


def test_on_refusal_raise_propagates_the_refusal_to_the_caller() -> None:
    model = ScriptedModel([tool_call("lookup", {"query": "a"}), tool_call("lookup", {"query": "b"}), answer("x")])
    agent = Agent(model, tools=[guard_tool(lookup, on_refusal="raise", **LIMIT)])
    with pytest.raises(RateLimitExceeded):
        run(agent)
    assert model.calls == 2


def test_refusals_count_against_the_tools_retries() -> None:
    """A model that keeps calling a refused tool ends the run the way pydantic-ai ends any retry loop."""
    calls = [tool_call("lookup", {"query": str(i)}) for i in range(4)]
    model = ScriptedModel([*calls, answer("x")])
    agent = Agent(model, tools=[guard_tool(lookup, **LIMIT)])  # retries: pydantic-ai's default, 1
    with pytest.raises(UnexpectedModelBehavior):
        run(agent)
    assert model.calls == 3  # one call, one refusal retried, the second refusal exceeds the retries


def test_circuit_breaker_sees_the_functions_failures_which_reach_the_caller() -> None:
    def flaky(query: str) -> str:
        """Call a flaky service."""
        raise ConnectionError("service down")

    tool = guard_tool(flaky, circuit_breaker={"name": "flaky-service", "max_fails": 1, "reset_timeout": 60})
    with pytest.raises(ConnectionError):
        run(Agent(ScriptedModel([tool_call("flaky", {"query": "a"}), answer("x")]), tools=[tool]))
    model = ScriptedModel([tool_call("flaky", {"query": "a"}), answer("gave up")])
    assert run(Agent(model, tools=[tool])).output == "gave up"  # the open circuit is a refusal for the model
    assert "temporarily disabled" in model.tool_outputs()[0] and "flaky" in model.tool_outputs()[0]


@pytest.mark.parametrize(
    ("tool", "kwargs"),
    [
        ("not a tool", {}),
        (lookup, {"on_refusal": "ignore"}),
        (lookup, {"rate_limit": {"max_calls": 0, "period": 60}}),
        (lookup, {"idempotent": True}),  # no idempotency_key parameter
        (lookup, {"colour": "red"}),
    ],
)
def test_bad_arguments_raise_config_error_now(tool: Any, kwargs: dict[str, Any]) -> None:
    with pytest.raises((ConfigError, TypeError)):
        guard_tool(tool, **kwargs)


def test_guard_tools_on_a_list_guards_each_tool_apart() -> None:
    def other(query: str) -> str:
        """Another lookup."""
        return f"other {query}"

    tools = guard_tools([lookup, Tool(other)], **LIMIT)
    assert [t.name for t in tools] == ["lookup", "other"]
    model = ScriptedModel([tool_call("lookup", {"query": "a"}), tool_call("other", {"query": "a"}), answer("x")])
    run(Agent(model, tools=tools))
    assert model.tool_outputs() == ["found a", "other a"]


def test_guarded_toolset_keeps_its_guards_when_pydantic_ai_rebuilds_it() -> None:
    guarded = guard_tools(FunctionToolset([lookup]), **LIMIT)
    assert isinstance(guarded, ActGuardToolset)
    rebuilt = guarded.visit_and_replace(lambda t: t)
    assert isinstance(rebuilt, ActGuardToolset) and rebuilt.guards == guarded.guards
    assert dataclasses.replace(guarded).on_refusal == "message"
    model = ScriptedModel([tool_call("lookup", {"query": "a"}), tool_call("lookup", {"query": "b"}), answer("x")])
    run(Agent(model, toolsets=[rebuilt]))
    assert model.tool_outputs()[0] == "found a" and "rate limit" in model.tool_outputs()[1].lower()


@pytest.mark.parametrize("kwargs", [{"on_refusal": "ignore"}, {"rate_limit": {"max_calls": 0, "period": 60}}])
def test_guarded_toolset_checks_its_arguments_now(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        guard_tools(FunctionToolset([lookup]), **kwargs)


def test_custody_outside_a_session_reaches_the_caller() -> None:
    """A custody check with no session is a wiring error, not something the model can fix."""
    tool = guard_tool(lookup, enforce=[actguard.RequireFact("query", "query")])
    model = ScriptedModel([tool_call("lookup", {"query": "a"}), answer("x")])
    with pytest.raises(actguard.GuardError) as caught:
        run(Agent(model, tools=[tool]))
    assert caught.value.code == "NO_SESSION"


def test_open_circuit_error_type_is_a_recoverable_refusal() -> None:
    assert issubclass(CircuitOpenError, actguard.ToolGuardError)
