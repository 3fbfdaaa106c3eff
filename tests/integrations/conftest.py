"""Adapter tests: make ``contract`` importable and turn a missing framework into a failure inside its nox session.

Use ``fw = require("langchain_core")`` instead of ``pytest.importorskip``: it skips (with the reason) for a
developer who lacks the framework, but fails when ``ACTGUARD_REQUIRE_FRAMEWORK`` is set, as in nox.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def require(module: str) -> ModuleType:
    """Import ``module``; skip the calling test module without it, or fail when a framework session requires it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if os.environ.get("ACTGUARD_REQUIRE_FRAMEWORK"):
            raise RuntimeError(
                f"{module} is required in the {os.environ['ACTGUARD_REQUIRE_FRAMEWORK']!r} nox session but "
                f"failed to import: {exc}"
            ) from exc
        pytest.skip(f"{module} is not installed ({exc}); `python -m nox` installs it", allow_module_level=True)
        raise  # unreachable
