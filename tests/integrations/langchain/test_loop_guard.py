"""guard_tool(..., loop_guard=...) on langchain-core tools (0.3 and 1.x): a repeated call goes back to the model."""

from __future__ import annotations

from contract import require

require("langchain_core")

from langchain_core.tools import StructuredTool  # noqa: E402

import actguard  # noqa: E402
from actguard_langchain import guard_tool  # noqa: E402


def search(query: str, limit: int = 5) -> str:
    """Search the knowledge base."""
    return f"result for {query}"


def test_guard_tool_refuses_the_repeat_as_a_tool_message() -> None:
    guarded = guard_tool(StructuredTool.from_function(search), loop_guard=1)
    with actguard.RunContext():
        assert guarded.invoke({"query": "a"}) == "result for a"
        assert guarded.invoke({"query": "b", "limit": 5}) == "result for b"
        assert "repeating yourself" in str(guarded.invoke({"query": "a", "limit": 5}))  # the default spelled out


async def test_async_and_raise_mode() -> None:
    guarded = guard_tool(StructuredTool.from_function(search), on_refusal="raise", loop_guard={"max_repeats": 1})
    async with actguard.RunContext():
        assert await guarded.ainvoke({"query": "a"}) == "result for a"
        try:
            await guarded.ainvoke({"query": "a"})
        except actguard.LoopDetected as error:
            assert error.kind == "repeat" and error.tool_name == "search"
        else:
            raise AssertionError("the repeated call was not refused")
