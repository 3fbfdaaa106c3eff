"""The shared adapter contract, through Agent.run with guarded Tools, plain functions and a guarded toolset under
ActGuardCapability, and with guarded Tools on ActGuardModel; through Agent.run_stream for the usage scenarios."""

from __future__ import annotations

from contract import CONTRACT_SCENARIOS, USAGE_SCENARIOS, require

require("pydantic_ai")

from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from pydantic_ai_harness import HARNESSES  # noqa: E402

pytestmark = pytest.mark.usefixtures("store")


@pytest.mark.parametrize("mode", sorted(HARNESSES))
@pytest.mark.parametrize("scenario", CONTRACT_SCENARIOS, ids=lambda s: s.__name__)
def test_contract(scenario: Callable[[Any], None], mode: str) -> None:
    scenario(HARNESSES[mode]())


@pytest.mark.parametrize("mode", ["tools", "model"])
@pytest.mark.parametrize("scenario", USAGE_SCENARIOS, ids=lambda s: s.__name__)
def test_usage_contract(scenario: Callable[[Any], None], mode: str) -> None:
    scenario(HARNESSES[mode]())
