"""LlamaIndex's own OpenAI LLM over httpx.MockTransport: a call seen by the handler and by actguard's OpenAI SDK
meter counts once (both record it under the provider's response id), plain, streamed and inside an agent run."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import httpx
import pytest
from contract import require

require("llama_index.core")
require("llama_index.llms.openai")

from llama_index.core.base.llms.types import ChatMessage  # noqa: E402
from llama_index.llms.openai import OpenAI  # noqa: E402
from llamaindex_harness import agent_for  # noqa: E402

from actguard import BudgetGuard  # noqa: E402
from actguard_llamaindex import ActGuardHandler, guard_tool, instrument  # noqa: E402
from actguard_llamaindex._calls import call_key  # noqa: E402
from actguard_llamaindex._usage import usage_of  # noqa: E402

MSG = [ChatMessage(role="user", content="hi")]
USAGE = {
    "prompt_tokens": 100,
    "completion_tokens": 20,
    "total_tokens": 120,
    "prompt_tokens_details": {"cached_tokens": 40},
    "completion_tokens_details": {"reasoning_tokens": 0},
}


class FakeOpenAI:
    """Plays chat completions (JSON or SSE, as requested) from a script of tool calls and answers."""

    def __init__(self, script: list[dict[str, Any]] | None = None) -> None:
        self.script = script or [{"content": "hello"}]
        self.requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        turn = self.script[min(len(self.requests) - 1, len(self.script) - 1)]
        response_id = f"chatcmpl-mock{next(self._ids)}"
        message: dict[str, Any] = {"role": "assistant", "content": turn.get("content")}
        if "tool" in turn:
            message["tool_calls"] = [
                {
                    "id": f"call_{response_id}",
                    "type": "function",
                    "function": {"name": turn["tool"], "arguments": json.dumps(turn["args"])},
                }
            ]
        if not body.get("stream"):
            return httpx.Response(
                200,
                json={
                    "id": response_id,
                    "object": "chat.completion",
                    "created": 0,
                    "model": "gpt-4o-2024-08-06",
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": USAGE,
                },
            )
        delta = {**message, "tool_calls": [{**c, "index": 0} for c in message.get("tool_calls", [])]}
        if not delta["tool_calls"]:
            del delta["tool_calls"]
        base = {"id": response_id, "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o-2024-08-06"}
        chunks = [
            {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ]
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append({**base, "choices": [], "usage": USAGE})
        sse = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return httpx.Response(200, content=sse.encode(), headers={"content-type": "text/event-stream"})


def openai_llm(fake: FakeOpenAI) -> OpenAI:
    transport = httpx.MockTransport(fake)
    return OpenAI(
        model="gpt-4o",
        api_key="sk-test",
        max_retries=0,
        http_client=httpx.Client(transport=transport),
        async_http_client=httpx.AsyncClient(transport=transport),
    )


def test_the_sdk_meter_alone_counts_the_call() -> None:
    llm = openai_llm(FakeOpenAI())  # not instrumented: only actguard's OpenAI SDK meter sees the call
    with BudgetGuard() as guard:
        response = llm.chat(MSG)
    assert guard.tokens_used == 120 and guard.usage.calls == 1
    # The handler reads the same call under the same id, so with both in place it is recorded once.
    assert call_key(response) == "chatcmpl-mock1"
    usage = usage_of(response, "gpt-4o-2024-08-06", "openai")
    assert usage is not None and (usage.input_tokens, usage.cached_input_tokens, usage.output_tokens) == (100, 40, 20)


@pytest.mark.parametrize("mode", ["chat", "stream_chat", "achat", "astream_chat"])
def test_a_call_seen_by_the_handler_and_the_sdk_meter_counts_once(mode: str) -> None:
    fake = FakeOpenAI()
    llm = instrument(openai_llm(fake))

    async def acall() -> None:
        if mode == "achat":
            await llm.achat(MSG)
        else:
            async for _ in await llm.astream_chat(MSG):
                pass

    with BudgetGuard() as guard:
        if mode == "chat":
            llm.chat(MSG)
        elif mode == "stream_chat":
            for _ in llm.stream_chat(MSG):
                pass
        else:
            asyncio.run(acall())
    assert len(fake.requests) == 1
    assert guard.tokens_used == 120 and guard.usage.calls == 1
    assert guard.usage.cached_input_tokens == 40


def test_an_agent_run_on_openai_counts_each_call_once() -> None:
    fake = FakeOpenAI([{"tool": "search", "args": {"query": "refunds"}}, {"content": "done"}])

    def search(query: str) -> str:
        """Search the knowledge base."""
        return f"result for {query}"

    guard = ActGuardHandler(user_id="alice", token_limit=10_000)

    async def main() -> Any:
        handler = guard.run(agent_for(openai_llm(fake), [guard_tool(search)]), user_msg="go")  # type: ignore[arg-type]
        async for _ in handler.stream_events():
            pass
        await handler
        return handler

    handler = asyncio.run(main())
    spent = guard.budget_for(handler)
    assert len(fake.requests) == 2
    assert spent is not None and spent.tokens_used == 240 and spent.usage.calls == 2
