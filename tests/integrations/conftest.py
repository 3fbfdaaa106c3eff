"""Adapter tests: make ``contract`` (the shared scenarios and ``require``) importable as a plain module.

It is loaded by file path rather than by putting ``tests/integrations`` on ``sys.path``: that folder holds test
folders named like the frameworks (``langchain``, ``crewai``...), which would then import as empty namespace
packages wherever the framework is absent (langchain-core does ``import langchain`` and breaks on it).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if "contract" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("contract", Path(__file__).parent / "contract.py")
    assert _spec is not None and _spec.loader is not None
    _contract = importlib.util.module_from_spec(_spec)
    sys.modules["contract"] = _contract
    _spec.loader.exec_module(_contract)
