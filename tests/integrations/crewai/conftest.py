"""CrewAI test settings: no telemetry, no tracing, nothing leaves the machine."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # crewai_harness

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_DISABLE_TRACKING", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
# CrewAI keeps task outputs and preferences under the user's data dir; give each test session a fresh one.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="actguard-crewai-data-")
os.environ["CREWAI_STORAGE_DIR"] = "actguard-tests"

# CrewAI's own import emits warnings (ImportWarning from its lazy modules) that are not ours to fix; import it once
# quietly so the suite's filterwarnings=error keeps catching warnings from actguard. Without crewai, the test module
# skips or fails through contract.require().
import contextlib
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    with contextlib.suppress(ImportError):
        import crewai  # noqa: F401
