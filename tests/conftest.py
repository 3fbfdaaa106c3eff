"""Shared fixtures: a fake clock and a fresh store per test, so tests never sleep and never share state."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import actguard
from actguard.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> Iterator[actguard.MemoryStore]:
    """A MemoryStore on the fake clock, installed as the default store for the test."""
    mem = actguard.MemoryStore(clock=clock)
    actguard.set_default_store(mem)
    yield mem
    actguard.set_default_store(None)


def _load_readme_examples() -> None:
    """Make tests/readme_examples.py importable as ``readme_examples`` from the core and the adapter suites.

    Loaded by file path, like ``contract`` (tests/integrations/conftest.py): putting ``tests`` on ``sys.path`` would
    shadow the frameworks with the test folders named after them.
    """
    if "readme_examples" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location("readme_examples", Path(__file__).parent / "readme_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["readme_examples"] = module
    spec.loader.exec_module(module)


_load_readme_examples()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One loud line when Redis tests were skipped (no redis-server here): easy to miss among the dots otherwise."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if "ACTGUARD_REQUIRE_REDIS=1 turns this skip" in str(getattr(report, "longrepr", ""))
    ]
    if skipped:
        terminalreporter.write_sep(
            "!",
            f"Redis tests SKIPPED ({len(skipped)}): no redis-server on PATH (or no redis-py); "
            "install Redis to run them, ACTGUARD_REQUIRE_REDIS=1 to fail instead",
            red=True,
            bold=True,
        )


@pytest.fixture(autouse=True)
def _unmetered_warnings_forgotten() -> None:
    """actguard warns once per process about calls it could not meter: each test starts as a fresh process would."""
    from actguard.budget import metering

    metering._warned.clear()
