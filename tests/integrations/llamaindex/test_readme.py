"""README.md python blocks that import this adapter run as written in its session (tests/readme_examples.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import readme_examples as readme
from contract import require

require("actguard_llamaindex")

BLOCKS = readme.blocks("llamaindex")


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_readme_block_runs(block: readme.Block, tmp_path: Path) -> None:
    readme.run_block(block, tmp_path)
