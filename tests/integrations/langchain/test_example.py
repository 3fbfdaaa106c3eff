"""examples/langchain_agent.py runs offline and shows what it says it shows."""

from __future__ import annotations

from contract import require

core = require("langchain_core")

import pytest  # noqa: E402

if int(core.__version__.split(".")[0]) < 1:
    pytest.skip("the example uses create_agent (langchain >= 1.0)", allow_module_level=True)

import runpy  # noqa: E402
from pathlib import Path  # noqa: E402

EXAMPLE = Path(__file__).parents[3] / "examples" / "langchain_agent.py"


@pytest.mark.usefixtures("store")
def test_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "delete_order [error]: Refused (MISSING_FACT)" in out
    assert "delete_order [success]: deleted o2" in out
    assert "notify [error]: Tool 'notify' is rate limited" in out
    assert "in 6 model calls" in out
    assert "stopped: budget exceeded for user 'bob': used 3200 of 3000 tokens" in out
    assert "the model was called 2 times" in out
