"""pydantic-ai test settings: the harness module is importable; no model request may leave the machine."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # pydantic_ai_harness

try:
    from pydantic_ai import models
except ImportError:  # the test modules skip (or fail in the nox session) through contract.require
    pass
else:
    models.ALLOW_MODEL_REQUESTS = False  # only offline models (FunctionModel, TestModel, a MockTransport client)
