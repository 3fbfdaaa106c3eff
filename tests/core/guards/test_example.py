"""examples/tool_guards.py runs offline and shows each guard deciding."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

import actguard

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "tool_guards.py"


def test_tool_guards_tour_runs(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        runpy.run_path(str(EXAMPLE), run_name="__main__")
    finally:
        actguard.set_default_store(None)  # the tour installs its own fake-clock store
    out = capsys.readouterr().out
    for expected in (
        "refused: rate limit of 'send_email' reached for 'alice'",
        "(a minute later) sent 'third' to alice",
        "attempt 3: postgres open, fails fast",
        "call_slow_dependency exceeded 0.2s",
        "create_invoice twice with one key -> inv_1, inv_1; invoices created: 1",
        "the function ran 3 times",
    ):
        assert expected in out, out
