"""Adapter tests: make ``contract`` (the shared scenarios and ``require``) importable as a plain module.

It is loaded by file path rather than by putting ``tests/integrations`` on ``sys.path``: that folder holds test
folders named like the frameworks (``langchain``, ``crewai``...), which would then import as empty namespace
packages wherever the framework is absent (langchain-core does ``import langchain`` and breaks on it).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

if "contract" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("contract", Path(__file__).parent / "contract.py")
    assert _spec is not None and _spec.loader is not None
    _contract = importlib.util.module_from_spec(_spec)
    sys.modules["contract"] = _contract
    _spec.loader.exec_module(_contract)


@pytest.fixture
async def stall() -> AsyncIterator[Any]:
    """A :class:`contract.StalledRedis`: a RedisStore on a redis-server of the test's own, frozen on demand."""
    stall = _contract_module().StalledRedis()
    yield stall
    stall.close()


def _contract_module() -> Any:
    return sys.modules["contract"]
