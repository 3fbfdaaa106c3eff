"""Fixtures for the budget suite: a loopback LLM server and SDK clients pointed at it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import budget_fakes
from budget_fakes import _server, llm  # noqa: F401 - registers the shared loopback-server fixtures


@pytest.fixture
def gemini_client(llm: budget_fakes.LLMServer) -> Any:  # noqa: F811 - the imported fixture, by name
    from google import genai
    from google.genai import types

    return genai.Client(api_key="g-test", http_options=types.HttpOptions(base_url=llm.url))
