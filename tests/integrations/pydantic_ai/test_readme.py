"""The README's pydantic-ai example runs as written, offline, and prints what it says."""

from __future__ import annotations

from contract import require

require("pydantic_ai")

import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

README = Path(__file__).parents[3] / "README.md"


def test_readme_example_runs() -> None:
    section = README.read_text().split("\n## pydantic-ai\n", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    # In a process of its own, as a user runs it (run_sync manages its own event loop).
    done = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    refusal, answer = done.stdout.splitlines()
    assert refusal.startswith("Refused (MISSING_FACT): order_id 'o9' was not returned by a read tool"), refusal
    assert refusal.endswith("(tool 'cancel_order')"), refusal
    assert answer == "Your desk order is cancelled. 480"
