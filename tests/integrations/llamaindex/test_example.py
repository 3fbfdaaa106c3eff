"""The offline example runs as written."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from contract import require

require("llama_index.core")

EXAMPLE = Path(__file__).parents[3] / "examples" / "llamaindex_agent.py"


def test_the_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "[refused] Refused (MISSING_FACT)" in out
    assert "is rate limited" in out
    assert "answer: Order o1 is deleted" in out
    assert "stopped after 2 LLM calls: budget exceeded for user 'bob'" in out
