"""OpenAI Agents SDK test settings: no tracing (nothing leaves the machine); the harness module is importable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # agents_harness

os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"

try:
    import agents
except ImportError:  # the test modules skip (or fail in the nox session) through contract.require
    pass
else:
    agents.set_tracing_disabled(True)
