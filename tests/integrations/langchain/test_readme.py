"""README.md python blocks that import this adapter run as written in its session (tests/readme_examples.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import readme_examples as readme
from contract import require

core = require("langchain_core")
require("actguard_langchain")
if int(core.__version__.split(".")[0]) < 1:
    pytest.skip(
        "the README's LangChain example uses create_agent (langchain >= 1.0): run at lowest-v1 and latest",
        allow_module_level=True,
    )

from actguard_langchain import _middleware  # noqa: E402

if not _middleware._SEES_RUN_ID:
    pytest.skip(
        "the README's LangChain example reads its budget by the config's run_id without the handler: "
        "langgraph >= 1.1.5 (test_middleware.py tests the warning below it)",
        allow_module_level=True,
    )

BLOCKS = readme.blocks("langchain")


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_readme_block_runs(block: readme.Block, tmp_path: Path) -> None:
    readme.run_block(block, tmp_path)
