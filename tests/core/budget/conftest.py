"""Fixtures for the budget suite: a loopback LLM server and SDK clients pointed at it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import budget_fakes


@pytest.fixture(scope="session")
def _server() -> Iterator[budget_fakes.LLMServer]:
    state, httpd = budget_fakes.start_server()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def llm(_server: budget_fakes.LLMServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[budget_fakes.LLMServer]:
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


@pytest.fixture
def gemini_client(llm: budget_fakes.LLMServer) -> Any:
    from google import genai
    from google.genai import types

    return genai.Client(api_key="g-test", http_options=types.HttpOptions(base_url=llm.url))
