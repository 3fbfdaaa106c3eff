"""LlamaIndex test settings: the harness module importable, llama-index imported once quietly.

llama-index-core's own import emits warnings on some pydantic releases (e.g. UnsupportedFieldAttributeWarning on
0.12.x) that are not ours to fix; importing it once with warnings ignored keeps the suite's filterwarnings=error
for actguard's own code. Without llama-index-core, the test modules skip or fail through contract.require().
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # llamaindex_harness

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    with contextlib.suppress(ImportError):
        import llama_index.core
        import llama_index.core.agent.workflow
        import llama_index.core.llms.function_calling  # noqa: F401

# Warnings LlamaIndex and its workflow engine raise about their own use of pydantic and asyncio (not actguard's).
_FRAMEWORK_WARNINGS = (
    "ignore::pydantic.warnings.PydanticDeprecatedSince20",
    "ignore::pydantic.warnings.PydanticDeprecatedSince211",
    "ignore::DeprecationWarning:llama_index.*",
    "ignore::DeprecationWarning:workflows.*",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            for spec in _FRAMEWORK_WARNINGS:
                item.add_marker(pytest.mark.filterwarnings(spec))


@pytest.fixture(autouse=True)
def _fresh_llama_index_settings() -> Iterator[None]:
    """Each test starts without a global callback manager: LLMs built with no handlers of their own share the handler
    list of ``Settings.callback_manager`` once it exists, so one test's instrumented LLM would leak into the next."""
    try:
        from llama_index.core import Settings
    except ImportError:
        yield
        return
    saved = Settings._callback_manager
    Settings._callback_manager = None
    try:
        yield
    finally:
        Settings._callback_manager = saved
