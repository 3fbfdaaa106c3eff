"""The shared adapter contract, through a FunctionAgent and a streamed AgentWorkflow."""

from __future__ import annotations

from typing import Any

import pytest
from contract import CONTRACT_SCENARIOS, USAGE_SCENARIOS, require

require("llama_index.core")

from llamaindex_harness import HARNESSES  # noqa: E402


@pytest.mark.parametrize("harness", HARNESSES, ids=lambda h: h.name)
@pytest.mark.parametrize("scenario", CONTRACT_SCENARIOS, ids=lambda s: s.__name__)
def test_contract(scenario: Any, harness: Any, store: Any) -> None:
    scenario(harness)


@pytest.mark.parametrize("scenario", USAGE_SCENARIOS, ids=lambda s: s.__name__)
def test_usage_contract(scenario: Any, store: Any) -> None:
    scenario(HARNESSES[1])
