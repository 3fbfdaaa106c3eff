"""A loopback HTTP server that plays scripted LLM API replies, and payloads shaped like the real APIs' responses.

The SDKs talk to it over real sockets, so every SDK release (httpx or httpx2 underneath) is driven unchanged.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Reply:
    """One scripted reply: a JSON body, or a list of server-sent events."""

    body: Any = None
    events: list[tuple[str | None, Any]] | None = None  # (event name or None, data)
    status: int = 200


@dataclass
class Seen:
    method: str
    path: str
    body: Any


@dataclass
class LLMServer:
    """Serves queued replies in order (the last one repeats) and records every request."""

    replies: deque[Reply] = field(default_factory=deque)
    requests: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    last: Reply | None = None

    def queue(self, *replies: Reply) -> None:
        with self.lock:
            self.replies.extend(replies)

    def next_reply(self) -> Reply:
        with self.lock:
            if self.replies:
                self.last = self.replies.popleft()
            if self.last is None:
                return Reply({"error": {"message": "no reply scripted"}}, status=500)
            return self.last


def _handler(server: LLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            with server.lock:
                server.requests.append(Seen("POST", self.path, body))
            reply = server.next_reply()
            if reply.events is None:
                data = json.dumps(reply.body(body) if callable(reply.body) else reply.body).encode()
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.send_header("connection", "close")
                self.end_headers()
                self.wfile.write(data)
                return
            chunks = []
            for name, payload in reply.events:
                text = payload if isinstance(payload, str) else json.dumps(payload)
                chunks.append((f"event: {name}\n" if name else "") + f"data: {text}\n\n")
            data = "".join(chunks).encode()
            self.send_response(reply.status)
            self.send_header("content-type", "text/event-stream")
            self.send_header("content-length", str(len(data)))
            self.send_header("connection", "close")  # no idle keep-alive sockets left for the GC to warn about
            self.end_headers()
            self.wfile.write(data)

    return Handler


def start_server() -> tuple[LLMServer, ThreadingHTTPServer]:
    state = LLMServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return state, httpd


def guard_options(shared: bool) -> dict[str, Any]:
    """BudgetGuard arguments of a per-process guard, or of a shared one (whose async steps run in worker threads)."""
    if not shared:
        return {}
    import actguard

    return {"user_id": "shared-test", "shared": True, "store": actguard.MemoryStore()}


# -- OpenAI ---------------------------------------------------------------------------------------------------------
def chat_completion(
    *,
    id: str = "chatcmpl-1",
    model: str = "gpt-4o-2024-08-06",
    content: str = "Rome was founded in 753 BC.",
    prompt_tokens: int = 1000,
    completion_tokens: int = 200,
    cached_tokens: int = 0,
    reasoning_tokens: int = 0,
) -> Reply:
    return Reply(
        {
            "id": id,
            "object": "chat.completion",
            "created": 1730000000,
            "model": model,
            "system_fingerprint": "fp_1",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": reasoning_tokens,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
        }
    )


def chat_stream(
    pieces: Iterable[str],
    *,
    id: str = "chatcmpl-s1",
    model: str = "gpt-4o-2024-08-06",
    prompt_tokens: int = 1000,
    completion_tokens: int = 200,
    cached_tokens: int = 0,
    usage: bool = True,
) -> Reply:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": id,
            "object": "chat.completion.chunk",
            "created": 1730000000,
            "model": model,
            "system_fingerprint": "fp_1",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "usage": None,
        }

    events: list[tuple[str | None, Any]] = [(None, chunk({"role": "assistant", "content": ""}))]
    events += [(None, chunk({"content": piece})) for piece in pieces]
    events.append((None, chunk({}, "stop")))
    if usage:
        events.append(
            (
                None,
                {
                    "id": id,
                    "object": "chat.completion.chunk",
                    "created": 1730000000,
                    "model": model,
                    "system_fingerprint": "fp_1",
                    "choices": [],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                        "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
                        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
                    },
                },
            )
        )
    events.append((None, "[DONE]"))
    return Reply(events=events)


def _response_obj(id: str, model: str, text: str, status: str, usage: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": id,
        "object": "response",
        "created_at": 1730000000,
        "status": status,
        "model": model,
        "output": []
        if status != "completed"
        else [
            {
                "type": "message",
                "id": "msg_1",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
    }


def _responses_usage(input_tokens: int, output_tokens: int, cached: int, reasoning: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }


def response(
    *,
    id: str = "resp_1",
    model: str = "gpt-4o-2024-08-06",
    text: str = "Hello!",
    input_tokens: int = 500,
    output_tokens: int = 100,
    cached_tokens: int = 0,
    reasoning_tokens: int = 0,
) -> Reply:
    usage = _responses_usage(input_tokens, output_tokens, cached_tokens, reasoning_tokens)
    return Reply(_response_obj(id, model, text, "completed", usage))


def response_stream(
    pieces: list[str],
    *,
    id: str = "resp_s1",
    model: str = "gpt-4o-2024-08-06",
    input_tokens: int = 500,
    output_tokens: int = 100,
    cached_tokens: int = 0,
) -> Reply:
    text = "".join(pieces)
    events: list[tuple[str | None, Any]] = [
        (
            "response.created",
            {
                "type": "response.created",
                "sequence_number": 0,
                "response": _response_obj(id, model, "", "in_progress", None),
            },
        ),
    ]
    item = {"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant", "content": []}
    events.append(
        (
            "response.output_item.added",
            {"type": "response.output_item.added", "sequence_number": 0, "output_index": 0, "item": item},
        )
    )
    events.append(
        (
            "response.content_part.added",
            {
                "type": "response.content_part.added",
                "sequence_number": 0,
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": []},
            },
        )
    )
    for n, piece in enumerate(pieces):
        events.append(
            (
                "response.output_text.delta",
                {
                    "type": "response.output_text.delta",
                    "sequence_number": n + 1,
                    "item_id": "msg_1",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": piece,
                    "logprobs": [],
                },
            )
        )
    usage = _responses_usage(input_tokens, output_tokens, cached_tokens, 0)
    events.append(
        (
            "response.completed",
            {
                "type": "response.completed",
                "sequence_number": len(pieces) + 1,
                "response": _response_obj(id, model, text, "completed", usage),
            },
        )
    )
    return Reply(events=events)


def embedding(*, model: str = "text-embedding-3-small", prompt_tokens: int = 8) -> Reply:
    return Reply(
        {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
            "model": model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
    )


# -- Anthropic ------------------------------------------------------------------------------------------------------
def anthropic_message(
    *,
    id: str = "msg_01",
    model: str = "claude-haiku-4-5-20251001",
    text: str = "Hello!",
    input_tokens: int = 100,
    output_tokens: int = 50,
    cache_read: int = 0,
    cache_write: int = 0,
) -> Reply:
    return Reply(
        {
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "cache_creation_input_tokens": cache_write,
                "cache_read_input_tokens": cache_read,
                "output_tokens": output_tokens,
                "service_tier": "standard",
            },
        }
    )


def anthropic_stream(
    pieces: list[str],
    *,
    id: str = "msg_s1",
    model: str = "claude-haiku-4-5-20251001",
    input_tokens: int = 100,
    output_tokens: int = 50,
    cache_read: int = 0,
    cache_write: int = 0,
) -> Reply:
    events: list[tuple[str | None, Any]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": input_tokens,
                        "cache_creation_input_tokens": cache_write,
                        "cache_read_input_tokens": cache_read,
                        "output_tokens": 1,
                    },
                },
            },
        ),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        ("ping", {"type": "ping"}),
    ]
    for piece in pieces:
        events.append(
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
            )
        )
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return Reply(events=events)


# -- Google ---------------------------------------------------------------------------------------------------------
def _gemini_chunk(text: str, model: str, id: str, usage: dict[str, Any] | None, finish: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        candidate["finishReason"] = "STOP"
    out: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": id}
    if usage is not None:
        out["usageMetadata"] = usage
    return out


def _gemini_usage(prompt: int, candidates: int, thoughts: int, cached: int) -> dict[str, Any]:
    usage = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if cached:
        usage["cachedContentTokenCount"] = cached
    return usage


def gemini(
    *,
    id: str = "gem-1",
    model: str = "gemini-2.5-flash",
    text: str = "Hello!",
    prompt: int = 1000,
    candidates: int = 100,
    thoughts: int = 0,
    cached: int = 0,
) -> Reply:
    return Reply(_gemini_chunk(text, model, id, _gemini_usage(prompt, candidates, thoughts, cached), True))


def gemini_stream(
    pieces: list[str],
    *,
    id: str = "gem-s1",
    model: str = "gemini-2.5-flash",
    prompt: int = 1000,
    candidates: int = 100,
    thoughts: int = 0,
) -> Reply:
    events: list[tuple[str | None, Any]] = []
    for n, piece in enumerate(pieces):
        last = n == len(pieces) - 1
        usage = _gemini_usage(prompt, candidates if last else n + 1, thoughts if last else 0, 0)
        events.append((None, _gemini_chunk(piece, model, id, usage, last)))
    return Reply(events=events)


def echo_chat() -> Reply:
    """A chat completion whose prompt_tokens is the length of the request's last message (1 completion token)."""
    counter = iter(range(1, 10**9))

    def body(request: Any) -> Any:
        content = request["messages"][-1]["content"]
        reply = chat_completion(id=f"chatcmpl-echo-{next(counter)}", prompt_tokens=len(content), completion_tokens=1)
        return reply.body

    return Reply(body)


# The loopback server as pytest fixtures, shared by the suites that drive real SDKs at it (tests/core/budget,
# tests/otel): a conftest imports both names to register them.
@pytest.fixture(scope="session")
def _server() -> Iterator[LLMServer]:
    state, httpd = start_server()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def llm(_server: LLMServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[LLMServer]:
    """The loopback server, emptied, with the OpenAI and Anthropic SDKs' environment pointed at it."""
    with _server.lock:
        _server.replies.clear()
        _server.requests.clear()
        _server.last = None
    monkeypatch.setenv("OPENAI_BASE_URL", _server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", _server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    yield _server
