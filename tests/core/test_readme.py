"""Every ```python block of README.md that imports no framework adapter runs as written (tests/readme_examples.py).

Blocks importing an adapter run in that framework's nox session (tests/integrations/<fw>/test_readme.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import readme_examples as readme

BLOCKS = readme.blocks(None)


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_readme_block_runs(block: readme.Block, tmp_path: Path) -> None:
    readme.run_block(block, tmp_path)


def test_every_block_has_a_session() -> None:
    """Each block runs somewhere: the core suite or the session of the one adapter it imports."""
    every = [b for fw in [None, *readme.ADAPTERS.values(), *readme.EXTRAS.values()] for b in readme.blocks(fw)]
    assert len(every) == readme.README.read_text().count("```python")
    assert len(BLOCKS) >= 4
    for framework in readme.ADAPTERS.values():
        assert readme.blocks(framework), f"no README block imports the {framework} adapter"


def test_budget_example_is_metered_against_the_scripted_model(tmp_path: Path) -> None:
    """The spend example really calls a model (the scripted one) and prints what it was charged."""
    block = next(b for b in BLOCKS if "BudgetGuard(user_id=" in b.code and "openai" in b.imports)
    out = readme.run_block(block, tmp_path).stdout
    assert "Budget hit" not in out
    used = out.split()
    assert float(used[0]) > 0 and int(used[1]) > 0, out


def _bash_blocks() -> list[str]:
    text = readme.README.read_text(encoding="utf-8")
    return [part.split("```", 1)[0].strip() for part in text.split("```bash\n")[1:]]


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run runs the README's second fresh-machine command exactly, so what CI proves is what a reader runs."""
    command = _bash_blocks()[1]
    assert command.endswith("-m nox"), command
    ci = (readme.README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert f"{command} 2>&1" in ci


def test_fresh_machine_commands_make_a_venv() -> None:
    """A distribution Python has no `python` and refuses pip outside a venv: both commands make one first."""
    for command in _bash_blocks()[:2]:
        assert command.startswith("python3 -m venv .venv && .venv/bin/python -m pip install "), command
