"""An embedded, scripted chat model that speaks the OpenAI Chat Completions wire format over httpx.MockTransport.

The demo's agent uses the real OpenAI SDK; only the HTTP transport is replaced. Each conversation is matched to a
script by a tag in its first user message; the model's n-th reply is the script's n-th step.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class Step:
    """One scripted reply: tool calls (name, arguments) or a final text, with the usage it reports."""

    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    text: str = ""
    prompt_tokens: int = 1200
    completion_tokens: int = 150


@dataclass
class ScriptedModel:
    """Serves ``scripts[tag]`` to the conversation whose first user message contains ``tag``."""

    scripts: dict[str, list[Step]]
    requests: int = 0
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        body = json.loads(request.content)
        messages = body["messages"]
        first_user = next(m["content"] for m in messages if m["role"] == "user")
        tag = next((t for t in self.scripts if t in first_user), None)
        if tag is None:
            return httpx.Response(400, json={"error": {"message": "no script for this conversation"}})
        turn = sum(1 for m in messages if m["role"] == "assistant")
        script = self.scripts[tag]
        step = script[min(turn, len(script) - 1)]
        return httpx.Response(200, json=self._completion(body["model"], step))

    def _completion(self, model: str, step: Step) -> dict[str, Any]:
        n = next(self._ids)
        tool_calls = [
            {"id": f"call_{n}_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(step.calls)
        ]
        message: dict[str, Any] = {"role": "assistant", "content": step.text or None, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        return {
            "id": f"chatcmpl-demo{n:06d}",
            "object": "chat.completion",
            "created": 1_764_000_000 + n,
            "model": f"{model}-2024-07-18" if model == "gpt-4o-mini" else model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if tool_calls else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": step.prompt_tokens,
                "completion_tokens": step.completion_tokens,
                "total_tokens": step.prompt_tokens + step.completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
            },
            "service_tier": "default",
            "system_fingerprint": "fp_demo",
        }
