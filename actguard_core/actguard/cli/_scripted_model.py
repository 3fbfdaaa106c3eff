"""An embedded, scripted chat model speaking the OpenAI Chat Completions wire format on a loopback HTTP server.

The demo's agent uses the real OpenAI SDK, unchanged, pointed at ``http://127.0.0.1:<port>/v1``: a real socket on the
loopback interface, so it works with every OpenAI SDK release whatever HTTP library it uses (httpx or httpx2), and
needs no network and no key. Each conversation is matched to a script by a tag in its first user message; the
model's n-th reply in a conversation is the script's n-th step.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Step", "serve"]


@dataclass(frozen=True)
class Step:
    """One scripted reply: tool calls ``(name, arguments)`` or a final text, with the token usage it reports."""

    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    text: str = ""
    prompt_tokens: int = 1200
    completion_tokens: int = 150


def _reply(scripts: Mapping[str, Sequence[Step]], body: Any, n: int) -> tuple[int, dict[str, Any]]:
    messages = body.get("messages", []) if isinstance(body, dict) else []
    first_user = next((str(m.get("content")) for m in messages if m.get("role") == "user"), "")
    tag = next((t for t in scripts if t in first_user), None)
    if tag is None:
        return 400, {"error": {"message": "the scripted demo model has no script for this conversation"}}
    script = scripts[tag]
    turn = sum(1 for m in messages if m.get("role") == "assistant")
    return 200, _completion(str(body.get("model", "gpt-4o-mini")), script[min(turn, len(script) - 1)], n)


def _completion(model: str, step: Step, n: int) -> dict[str, Any]:
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
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if tool_calls else "stop"}
        ],
        "usage": {
            "prompt_tokens": step.prompt_tokens,
            "completion_tokens": step.completion_tokens,
            "total_tokens": step.prompt_tokens + step.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
        "system_fingerprint": "fp_demo",
    }


@contextlib.contextmanager
def serve(scripts: Mapping[str, Sequence[Step]]) -> Iterator[str]:
    """Serve the scripted model on a free loopback port for the block; yields its OpenAI ``base_url``."""
    ids = itertools.count(1)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: do not wait for a delayed ACK

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                n = next(ids)
            try:
                status, payload = _reply(scripts, json.loads(raw or b"{}"), n)
            except (ValueError, AttributeError):
                status, payload = 400, {"error": {"message": "the scripted demo model got a malformed request"}}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="actguard-demo-model", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
