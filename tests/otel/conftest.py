"""OpenTelemetry tests: an SDK tracer and meter provider per test, read through the in-memory exporter and reader."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # otel_harness
sys.path.insert(0, str(Path(__file__).parent.parent / "core" / "budget"))  # budget_fakes: the loopback LLM server

from budget_fakes import _server, llm  # noqa: F401 - registers the shared loopback-server fixtures
from otel_harness import Otel, make_otel

import actguard
import actguard.otel


@pytest.fixture
def otel() -> Iterator[Otel]:
    """actguard instrumented with fresh providers; uninstrumented afterwards."""
    o = make_otel()
    actguard.otel.instrument(tracer_provider=o.tracer_provider, meter_provider=o.meter_provider)
    yield o
    actguard.otel.uninstrument()
    o.meter_provider.shutdown()
    o.tracer_provider.shutdown()


@pytest.fixture(autouse=True)
def memory_store() -> Iterator[None]:
    """A fresh in-memory store per test, so guard state never leaks between tests."""
    before = actguard.get_default_store()
    actguard.set_default_store(actguard.MemoryStore())
    yield
    actguard.set_default_store(before)
