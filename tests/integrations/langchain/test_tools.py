"""guard_tool / guard_tools: same name, description and schema; refusals as error ToolMessages or raised."""

from __future__ import annotations

from contract import require

require("langchain_core")

from typing import Any  # noqa: E402

import pytest  # noqa: E402
from langchain_core.messages import ToolMessage  # noqa: E402
from langchain_core.tools import BaseTool, StructuredTool, Tool, ToolException, tool  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402

import actguard  # noqa: E402
from actguard import ConfigError, GuardError, RateLimitExceeded  # noqa: E402
from actguard_langchain import guard_tool, guard_tools  # noqa: E402
from actguard_langchain._tools import GuardRefusal  # noqa: E402

pytestmark = pytest.mark.usefixtures("store")
ONCE = {"rate_limit": {"max_calls": 1, "period": 60}}


@tool("web_search")
def search_impl(query: str, limit: int = 3) -> str:
    """Search the web for the query; return at most `limit` results."""
    return f"{limit} results for {query}"


async def fetch_page(url: str) -> str:
    """Fetch a page."""
    return f"<html>{url}</html>"


class LookupInput(BaseModel):
    customer_id: str = Field(description="The customer's id")


class LookupTool(BaseTool):
    name: str = "lookup_customer"
    description: str = "Look a customer up by id."
    args_schema: type[BaseModel] = LookupInput

    def _run(self, customer_id: str, run_manager: Any = None) -> str:
        return f"customer {customer_id}"

    async def _arun(self, customer_id: str, run_manager: Any = None) -> str:
        return f"customer {customer_id} (async)"


def shape(t: BaseTool) -> tuple[str, str, dict[str, Any]]:
    return t.name, t.description, t.tool_call_schema.model_json_schema()  # type: ignore[union-attr]


def call(name: str, args: dict[str, Any], n: int = 1) -> dict[str, Any]:
    return {"name": name, "args": args, "id": f"call_{n}", "type": "tool_call"}


@pytest.mark.parametrize(
    "original",
    [
        search_impl,
        StructuredTool.from_function(coroutine=fetch_page),
        LookupTool(),
        Tool(name="echo", description="Echo the input.", func=lambda text: text),
    ],
    ids=["@tool", "async StructuredTool", "BaseTool subclass", "single-input Tool"],
)
def test_the_model_sees_the_same_tool(original: BaseTool) -> None:
    guarded = guard_tool(original, **ONCE)
    assert shape(guarded) == shape(original)
    assert guarded.args == original.args
    assert type(guarded) is (Tool if isinstance(original, Tool) else StructuredTool)


def test_a_plain_function_becomes_a_tool() -> None:
    def lookup(query: str) -> str:
        """Look it up."""
        return f"found {query}"

    guarded = guard_tool(lookup)
    assert (guarded.name, guarded.description, list(guarded.args)) == ("lookup", "Look it up.", ["query"])
    assert guarded.invoke({"query": "x"}) == "found x"


def test_refusals_reach_the_model_as_error_tool_messages() -> None:
    guarded = guard_tool(search_impl, **ONCE)
    first = guarded.invoke(call("web_search", {"query": "a"}, 1))
    second = guarded.invoke(call("web_search", {"query": "b"}, 2))
    assert isinstance(first, ToolMessage) and first.status == "success" and first.content == "3 results for a"
    assert isinstance(second, ToolMessage) and second.status == "error" and second.tool_call_id == "call_2"
    assert "'web_search' is rate limited (1 call per 60s)" in str(second.content)


async def test_async_tools_are_guarded_too() -> None:
    fetch = guard_tool(fetch_page, **ONCE)
    lookup = guard_tool(LookupTool(), **ONCE)
    assert await fetch.ainvoke({"url": "u"}) == "<html>u</html>"
    assert await lookup.ainvoke({"customer_id": "c1"}) == "customer c1 (async)"
    refused = await fetch.ainvoke(call("fetch_page", {"url": "v"}))
    assert refused.status == "error" and "rate limited" in str(refused.content)
    refused = await lookup.ainvoke(call("lookup_customer", {"customer_id": "c2"}))
    assert refused.status == "error" and "'lookup_customer' is rate limited" in str(refused.content)


def test_refusals_can_be_raised_instead() -> None:
    guarded = guard_tool(search_impl, on_refusal="raise", **ONCE)
    guarded.invoke({"query": "a"})
    with pytest.raises(RateLimitExceeded) as info:
        guarded.invoke(call("web_search", {"query": "b"}))
    assert info.value.tool_name == "web_search"


def test_custody_across_tools() -> None:
    @tool
    def list_orders(user_id: str) -> list[dict[str, str]]:
        """List the user's orders."""
        return [{"id": "o1"}, {"id": "o2"}]

    @tool
    def delete_order(order_id: str) -> str:
        """Delete an order."""
        return f"deleted:{order_id}"

    reader = guard_tool(list_orders, prove={"kind": "order_id", "extract": "id"})
    writer = guard_tool(delete_order, enforce=[actguard.RequireFact("order_id", "order_id")])
    with actguard.session("req-1", {"user_id": "alice"}):
        refused = writer.invoke(call("delete_order", {"order_id": "o2"}, 1))
        assert refused.status == "error" and "MISSING_FACT" in str(refused.content) and "o2" in str(refused.content)
        reader.invoke({"user_id": "alice"})
        assert writer.invoke(call("delete_order", {"order_id": "o2"}, 2)).content == "deleted:o2"
        assert "MISSING_FACT" in str(writer.invoke(call("delete_order", {"order_id": "o9"}, 3)).content)
    strict = guard_tool(delete_order, on_refusal="raise", enforce=[actguard.RequireFact("order_id", "order_id")])
    with actguard.session("req-2", {"user_id": "bob"}), pytest.raises(GuardError):  # facts never cross sessions
        strict.invoke({"order_id": "o2"})


def test_the_tools_own_error_handling_is_kept() -> None:
    def flaky(query: str) -> str:
        """Fails."""
        raise ToolException("backend said no")

    handled = guard_tool(StructuredTool.from_function(flaky, handle_tool_error=True), **ONCE)
    assert handled.invoke(call("flaky", {"query": "x"})).content == "backend said no"
    unhandled = guard_tool(StructuredTool.from_function(flaky), max_attempts=5)
    with actguard.RunContext(), pytest.raises(ToolException) as info:
        unhandled.invoke({"query": "x"})
    assert not isinstance(info.value, GuardRefusal)


def test_guard_tools_guards_each_tool() -> None:
    a, b = guard_tools([search_impl, LookupTool()], **ONCE)
    a.invoke({"query": "q"})
    b.invoke({"customer_id": "c"})  # its own rate limit, not a's
    assert "rate limited" in str(b.invoke(call("lookup_customer", {"customer_id": "d"})).content)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((search_impl,), {"on_refusal": "ignore"}),
        ((42,), {}),
        ((search_impl,), {"rate_limit": {"max_calls": 0, "period": 60}}),
        ((search_impl,), {"no_such_guard": 1}),
    ],
    ids=["on_refusal", "not a tool", "bad guard argument", "unknown guard"],
)
def test_bad_arguments_fail_when_wrapping(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        guard_tool(*args, **kwargs)
