"""CrewAI's own OpenAI LLM on a loopback server: a call seen by the SDK meter and by the adapter counts once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from contract import require

require("crewai")

from crewai import LLM  # noqa: E402
from crewai_harness import make_crew  # noqa: E402

import actguard  # noqa: E402
import actguard_crewai  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:crewai")

COMPLETION = {
    "id": "chatcmpl-crew-1",
    "object": "chat.completion",
    "created": 1_764_000_000,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Thought: I now know the final answer\nFinal Answer: 42",
                "refusal": None,
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 812,
        "completion_tokens": 15,
        "total_tokens": 827,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    },
    "system_fingerprint": "fp_loopback",
}


class _Handler(BaseHTTPRequestHandler):
    completion = COMPLETION

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps(self.completion).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(params=["with-id", "without-id"])
def openai_base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The loopback server, answering with a response id or, as some gateways do, without one."""
    completion = COMPLETION if request.param == "with-id" else {k: v for k, v in COMPLETION.items() if k != "id"}
    handler = type("Handler", (_Handler,), {"completion": completion})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_native_openai_llm_is_counted_once(openai_base_url: str) -> None:
    llm = LLM(model="gpt-4o", base_url=openai_base_url, api_key="sk-test")
    budget = actguard_crewai.CrewBudget(user_id="dana", usd_limit=1.0)
    with actguard.BudgetGuard(user_id="dana") as outer:
        result = budget.kickoff(make_crew(llm, []))
    assert "42" in result.raw
    spent = budget.last_budget
    assert spent is not None
    assert spent.tokens_used == 827 and spent.usage.calls == 1
    assert outer.tokens_used == 827
    assert budget.last_by_agent["researcher"].calls == 1
