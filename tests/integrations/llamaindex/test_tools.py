"""guard_tool / guard_tools: same name, description and schema; refusals come back as an error ToolOutput."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from contract import require

require("llama_index.core")

from llama_index.core.tools import FunctionTool, ToolMetadata, ToolOutput  # noqa: E402
from llama_index.core.tools.types import AsyncBaseTool  # noqa: E402
from pydantic import BaseModel  # noqa: E402

import actguard  # noqa: E402
from actguard import ConfigError, RateLimitExceeded  # noqa: E402
from actguard_llamaindex import guard_tool, guard_tools  # noqa: E402


def lookup(query: str, limit: int = 3) -> str:
    """Look the query up in the knowledge base."""
    return f"{limit} results for {query}"


async def alookup(query: str) -> str:
    """Look the query up, asynchronously."""
    return f"async results for {query}"


def _same_shape(a: Any, b: Any) -> None:
    assert a.metadata.name == b.metadata.name
    assert a.metadata.description == b.metadata.description
    assert a.metadata.get_parameters_dict() == b.metadata.get_parameters_dict()
    assert a.metadata.to_openai_tool() == b.metadata.to_openai_tool()


def test_keeps_name_description_and_schema(store: Any) -> None:
    plain = FunctionTool.from_defaults(lookup)
    _same_shape(guard_tool(lookup, rate_limit={"max_calls": 5, "period": 60}), plain)
    named = FunctionTool.from_defaults(lookup, name="kb_search", description="Search the KB.", return_direct=True)
    guarded = guard_tool(named, timeout=5.0)
    _same_shape(guarded, named)
    assert guarded.metadata.return_direct is True
    assert isinstance(guarded, FunctionTool)
    assert guarded.call(query="x").content == "3 results for x"


def test_a_refusal_is_an_error_tool_output_with_actionable_text(store: Any) -> None:
    tool = guard_tool(lookup, rate_limit={"max_calls": 1, "period": 60})
    first = tool.call(query="a")
    assert first.content == "3 results for a" and not first.is_error
    refused = tool.call(query="b")
    assert isinstance(refused, ToolOutput) and refused.is_error
    assert "rate limit" in refused.content.lower() and "retry" in refused.content.lower(), refused.content
    assert isinstance(refused.raw_output, RateLimitExceeded)
    assert refused.tool_name == "lookup"
    refused_async = asyncio.run(tool.acall(query="c"))
    assert refused_async.is_error and "rate limit" in refused_async.content.lower()


def test_on_refusal_raise_propagates(store: Any) -> None:
    tool = guard_tool(lookup, on_refusal="raise", rate_limit={"max_calls": 1, "period": 60})
    tool.call(query="a")
    with pytest.raises(RateLimitExceeded):
        tool.call(query="b")


def test_async_functions_keep_working_sync_and_async(store: Any) -> None:
    tool = guard_tool(alookup, max_attempts={"calls": 2})
    with actguard.RunContext():
        assert asyncio.run(tool.acall(query="x")).content == "async results for x"
        assert tool.call(query="y").content == "async results for y"
        refused = asyncio.run(tool.acall(query="z"))
    assert refused.is_error and "do not call it again" in refused.content.lower(), refused.content


def test_custody_refusal_names_the_missing_fact(store: Any) -> None:
    def list_orders(user_id: str) -> list[dict[str, str]]:
        """List the user's orders."""
        return [{"id": "o1"}]

    def delete_order(order_id: str) -> str:
        """Delete an order."""
        return f"deleted:{order_id}"

    (reader,) = guard_tools([list_orders], prove={"kind": "order_id", "extract": "id"})
    writer = guard_tool(delete_order, enforce=[actguard.RequireFact("order_id", "order_id")])
    with actguard.session("tools-custody", {"user_id": "alice"}):
        refused = asyncio.run(writer.acall(order_id="o1"))
        assert refused.is_error and "MISSING_FACT" in refused.content and "o1" in refused.content
        asyncio.run(reader.acall(user_id="alice"))  # sync tool run off the loop: the session follows it
        assert asyncio.run(writer.acall(order_id="o1")).content == "deleted:o1"


class _SearchArgs(BaseModel):
    query: str


class _SearchTool(AsyncBaseTool):
    """A tool that is not a FunctionTool (as QueryEngineTool and friends are)."""

    @property
    def metadata(self) -> ToolMetadata:
        return ToolMetadata(name="kb", description="Query the knowledge base.", fn_schema=_SearchArgs)

    def call(self, input: Any = None, **kwargs: Any) -> ToolOutput:
        query = kwargs.get("query", input)
        return ToolOutput(content=f"kb: {query}", tool_name="kb", raw_input=kwargs, raw_output=query)

    async def acall(self, input: Any = None, **kwargs: Any) -> ToolOutput:
        return self.call(input, **kwargs)


def test_other_tools_are_wrapped_through_their_call(store: Any) -> None:
    base = _SearchTool()
    tool = guard_tool(base, rate_limit={"max_calls": 1, "period": 60})
    _same_shape(tool, base)
    assert asyncio.run(tool.acall(query="q")).content == "kb: q"
    assert tool.call(query="r").is_error


def test_bad_arguments_fail_at_wrap_time() -> None:
    with pytest.raises(ConfigError, match="on_refusal"):
        guard_tool(lookup, on_refusal="ignore")
    with pytest.raises(ConfigError, match="tool"):
        guard_tool(42)
    with pytest.raises(ConfigError):
        guard_tool(lookup, rate_limit={"max_calls": 0, "period": 60})
