"""A scripted OpenAI Chat Completions server on httpx.MockTransport, and pydantic-ai's OpenAI model over it.

Each run asks ``"run <i>"``; the server answers its first request with a ``search`` tool call and the request after
the tool result with a final answer. Usage grows with ``i`` (so concurrent runs can be told apart), and every
response carries its own id: the id actguard's OpenAI SDK meter and pydantic-ai (``provider_response_id``) both see.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from typing import Any

import httpx
from openai import AsyncOpenAI
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider


def usage_for(i: int, step: int) -> dict[str, int]:
    """The usage the server reports for run ``i``'s call ``step`` (0: the tool call, 1: the answer)."""
    prompt, completion = 100 * (i + 1) + 10 * step, 10 * (i + 1) + step
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class OpenAIServer:
    """Answers Chat Completions requests (streamed or not) per the script above; counts them (thread-safe)."""

    def __init__(self, tool_calls_per_run: int = 1, answer_chunks: int = 1) -> None:
        self.tool_calls_per_run = tool_calls_per_run
        self.answer_chunks = answer_chunks  # a streamed answer in this many chunks of 400 characters
        self.requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        with self._lock:
            self.requests.append(body)
            n = next(self._ids)
        messages = body["messages"]
        first_user = next(m for m in messages if m["role"] == "user")
        content = first_user["content"]
        text = content if isinstance(content, str) else " ".join(c.get("text", "") for c in content)
        found = re.search(r"run (\d+)", text)
        i = int(found.group(1)) if found else 0
        step = sum(1 for m in messages if m["role"] == "tool")
        usage = usage_for(i, step)
        call = step < self.tool_calls_per_run
        message: dict[str, Any] = (
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{n}",
                        "type": "function",
                        "function": {"name": "search", "arguments": json.dumps({"query": f"q{i}-{step}"})},
                    }
                ],
            }
            if call
            else {"role": "assistant", "content": f"done {i}"}
        )
        finish = "tool_calls" if call else "stop"
        response_id = f"chatcmpl-{n}"
        if not body.get("stream"):
            return httpx.Response(
                200,
                json={
                    "id": response_id,
                    "object": "chat.completion",
                    "created": 1,
                    "model": "gpt-4o-2024-08-06",
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                },
            )
        if call:
            tool_call = dict(message["tool_calls"][0], index=0)
            delta: dict[str, Any] = {"role": "assistant", "tool_calls": [tool_call]}
        else:
            delta = {"role": "assistant", "content": message["content"]}
        deltas = [delta]
        if not call and self.answer_chunks > 1:
            deltas = [{"role": "assistant", "content": "x" * 400} for _ in range(self.answer_chunks)]
        chunks = [
            *({"choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas),
            {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
            {"choices": [], "usage": usage},
        ]
        lines = [
            "data: "
            + json.dumps(
                {"id": response_id, "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-08-06", **c}
            )
            for c in chunks
        ]
        return httpx.Response(
            200, text="\n\n".join([*lines, "data: [DONE]"]) + "\n\n", headers={"content-type": "text/event-stream"}
        )

    def model(self) -> OpenAIChatModel:
        """pydantic-ai's OpenAI Chat model on the real OpenAI SDK, whose HTTP goes to this server."""
        client = AsyncOpenAI(
            api_key="test-key",
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(self.handler)),
            max_retries=0,
        )
        return OpenAIChatModel("gpt-4o", provider=OpenAIProvider(openai_client=client))
