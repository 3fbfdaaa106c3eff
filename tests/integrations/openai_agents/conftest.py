"""OpenAI Agents SDK test settings: no tracing (nothing leaves the machine); the harness module is importable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # agents_harness

os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
os.environ.setdefault("OPENAI_API_KEY", "sk-test-offline")  # models built over MockTransport never send it out
