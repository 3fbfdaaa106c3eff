"""pydantic-ai test settings: the harness modules are importable. Models are offline (FunctionModel, TestModel) or
pydantic-ai's OpenAI model on an httpx.MockTransport: nothing leaves the machine."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # pydantic_ai_harness, openai_server


import pytest


@pytest.fixture(params=["capability", "model"])
def via(request: pytest.FixtureRequest) -> str:
    """How the run's budget is attached: ActGuardCapability, or ActGuardModel wrapping the model (same rule)."""
    return str(request.param)
