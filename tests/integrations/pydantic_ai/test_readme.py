"""README.md python blocks that import this adapter run as written in its session (tests/readme_examples.py), and
the pydantic-ai example prints what it says."""

from __future__ import annotations

from pathlib import Path

import pytest
import readme_examples as readme
from contract import require

require("pydantic_ai")
require("actguard_pydantic_ai")

BLOCKS = readme.blocks("pydantic_ai")


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_readme_block_runs(block: readme.Block, tmp_path: Path) -> None:
    readme.run_block(block, tmp_path)


def test_the_example_prints_the_refusal_and_the_runs_tokens(tmp_path: Path) -> None:
    [block] = [b for b in BLOCKS if b.heading == "pydantic-ai"]
    refusal, answer = readme.run_block(block, tmp_path).stdout.splitlines()
    assert refusal.startswith("Refused (MISSING_FACT): order_id 'o9' was not returned by a read tool"), refusal
    assert refusal.endswith("(tool 'cancel_order')"), refusal
    assert answer == "Your desk order is cancelled. 480"


def test_the_actguard_model_example_prints_the_stop_after_the_crossing_call(tmp_path: Path) -> None:
    [block] = [b for b in BLOCKS if "ActGuardModel" in b.heading]
    stop, tokens = readme.run_block(block, tmp_path).stdout.splitlines()
    assert stop == "stopped after 2 model calls: budget exceeded for user 'alice': used 840 of 600 tokens", stop
    assert tokens == "840"
