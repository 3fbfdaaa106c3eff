"""Every ```python block of README.md that imports no framework adapter runs as written (tests/readme_examples.py).

Blocks importing an adapter run in that framework's nox session (tests/integrations/<fw>/test_readme.py).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_path = Path(__file__).parents[1] / "readme_examples.py"
_spec = importlib.util.spec_from_file_location("readme_examples", _path)
assert _spec is not None and _spec.loader is not None
readme = sys.modules.setdefault("readme_examples", importlib.util.module_from_spec(_spec))
if not hasattr(readme, "blocks"):
    _spec.loader.exec_module(readme)

BLOCKS = readme.blocks(None)


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_readme_block_runs(block: readme.Block, tmp_path: Path) -> None:
    readme.run_block(block, tmp_path)


def test_every_block_has_a_session() -> None:
    """Each block runs somewhere: the core suite or the session of the one adapter it imports."""
    every = [b for fw in [None, *readme.ADAPTERS.values()] for b in readme.blocks(fw)]
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
