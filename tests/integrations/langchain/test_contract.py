"""The shared adapter contract, through LangChain: an LCEL tool loop (any langchain-core) and create_agent (v1)."""

from __future__ import annotations

from contract import CONTRACT_SCENARIOS, USAGE_SCENARIOS, require

require("langchain_core")

from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from langchain_harness import HAS_LANGCHAIN_V1, AgentHarness, LCELHarness  # noqa: E402

pytestmark = pytest.mark.usefixtures("store")


@pytest.mark.parametrize("scenario", CONTRACT_SCENARIOS, ids=lambda s: s.__name__)
def test_contract_lcel(scenario: Callable[[Any], None]) -> None:
    scenario(LCELHarness())


@pytest.mark.skipif(
    not HAS_LANGCHAIN_V1, reason="create_agent needs langchain >= 1.0 (the lowest session has core 0.3)"
)
@pytest.mark.parametrize("scenario", CONTRACT_SCENARIOS, ids=lambda s: s.__name__)
def test_contract_create_agent(scenario: Callable[[Any], None]) -> None:
    scenario(AgentHarness())


@pytest.mark.parametrize("scenario", USAGE_SCENARIOS, ids=lambda s: s.__name__)
def test_usage_contract_lcel(scenario: Callable[[Any], None]) -> None:
    scenario(LCELHarness())


@pytest.mark.skipif(
    not HAS_LANGCHAIN_V1, reason="create_agent needs langchain >= 1.0 (the lowest session has core 0.3)"
)
@pytest.mark.parametrize("scenario", USAGE_SCENARIOS, ids=lambda s: s.__name__)
def test_usage_contract_create_agent(scenario: Callable[[Any], None]) -> None:
    scenario(AgentHarness())
