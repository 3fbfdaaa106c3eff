"""Shared fixtures: a fake clock and a fresh store per test, so tests never sleep and never share state."""

from __future__ import annotations

from collections.abc import Iterator

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


@pytest.fixture(autouse=True)
def _unmetered_warnings_forgotten() -> None:
    """actguard warns once per process about calls it could not meter: each test starts as a fresh process would."""
    from actguard.budget import metering

    metering._warned.clear()
