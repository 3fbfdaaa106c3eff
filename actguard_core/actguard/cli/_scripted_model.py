"""An embedded, scripted chat model speaking the OpenAI wire format (Chat Completions, Responses) on loopback HTTP.

The demo's agent uses the real OpenAI SDK, unchanged, pointed at ``http://127.0.0.1:<port>/v1``: a real socket on the
loopback interface, so it works with every OpenAI SDK release whatever HTTP library it uses (httpx or httpx2), and
needs no network and no key. Each conversation is matched to a script by a tag in its first user message; the
model's n-th reply in a conversation is the script's n-th step. A conversation no script matches gets
:data:`DEFAULT_STEP` (a short answer with usage), so any example pointed at the model runs
(``actguard scripted-model``, :func:`actguard.testing.scripted_model`).
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

__all__ = ["DEFAULT_STEP", "Step", "serve"]


@dataclass(frozen=True)
class Step:
    """One scripted reply: tool calls ``(name, arguments)`` or a final text, with the token usage it reports."""

    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    text: str = ""
    prompt_tokens: int = 1200
    completion_tokens: int = 150


# The reply to a conversation no script matches.
DEFAULT_STEP = Step(text="Hello from actguard's scripted model (no network, no API key).", prompt_tokens=25)


def _reply(
    scripts: Mapping[str, Sequence[Step]], body: Any, n: int, path: str, default: Step | None
) -> tuple[int, dict[str, Any]]:
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    responses_api = path.rstrip("/").endswith("/responses")
    messages = body.get("input", []) if responses_api else body.get("messages", [])
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    messages = [m for m in messages if isinstance(m, dict)]
    first_user = next((str(m.get("content")) for m in messages if m.get("role") == "user"), "")
    tag = next((t for t in scripts if t in first_user), None)
    if tag is not None:
        script: Sequence[Step] = scripts[tag]
    elif default is not None:
        script = [default]
    else:
        return 400, {"error": {"message": "the scripted demo model has no script for this conversation"}}
    turn = sum(1 for m in messages if m.get("role") == "assistant" or m.get("type") == "function_call")
    step = script[min(turn, len(script) - 1)]
    model = str(body.get("model", "gpt-4o-mini"))
    return 200, _response(model, step, n) if responses_api else _completion(model, step, n)


def _response(model: str, step: Step, n: int) -> dict[str, Any]:
    """A Responses API reply (``POST /v1/responses``, not streamed)."""
    output: list[dict[str, Any]] = [
        {
            "type": "function_call",
            "id": f"fc_{n}_{i}",
            "call_id": f"call_{n}_{i}",
            "name": name,
            "arguments": json.dumps(args),
            "status": "completed",
        }
        for i, (name, args) in enumerate(step.calls)
    ]
    if step.text:
        output.append(
            {
                "type": "message",
                "id": f"msg_{n}",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": step.text, "annotations": []}],
            }
        )
    return {
        "id": f"resp_demo{n:06d}",
        "object": "response",
        "created_at": 1_764_000_000 + n,
        "model": model,
        "status": "completed",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "usage": {
            "input_tokens": step.prompt_tokens,
            "output_tokens": step.completion_tokens,
            "total_tokens": step.prompt_tokens + step.completion_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


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
def serve(
    scripts: Mapping[str, Sequence[Step]] | None = None, *, port: int = 0, default: Step | None = DEFAULT_STEP
) -> Iterator[str]:
    """Serve the scripted model on a loopback port for the block; yields its OpenAI ``base_url``.

    Args:
        scripts: tag -> the replies of a conversation whose first user message contains the tag.
        port: the port on 127.0.0.1; 0 picks a free one.
        default: the reply to a conversation no script matches; ``None`` answers it with HTTP 400.
    """
    by_tag: Mapping[str, Sequence[Step]] = scripts or {}
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
                status, payload = _reply(by_tag, json.loads(raw or b"{}"), n, self.path, default)
            except (ValueError, AttributeError):
                status, payload = 400, {"error": {"message": "the scripted demo model got a malformed request"}}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="actguard-demo-model", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
