"""Helpers for testing code that uses actguard: a fake clock, event capture, a scripted model on loopback, and the
script steps (:func:`tool_call`, :func:`answer`) the adapters' scripted models play.

Example::

    from actguard.testing import FakeClock
    from actguard import MemoryStore, rate_limit

    clock = FakeClock()
    store = MemoryStore(clock=clock)

    @rate_limit(max_calls=1, period=60, store=store)
    def ping() -> None: ...

    ping()
    clock.advance(60)
    ping()  # the window has moved on; no sleeping
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from actguard.exceptions import ConfigError

__all__ = [
    "CapturedEvents",
    "FakeClock",
    "ScriptedResponse",
    "answer",
    "capture_events",
    "scripted_model",
    "tool_call",
]

# What scripted_model() sets: the OpenAI SDK reads OPENAI_BASE_URL / OPENAI_API_KEY (and so do the frameworks built
# on it); LlamaIndex's OpenAI LLM reads OPENAI_API_BASE; the OpenAI Agents SDK would export traces to the real API.
_SCRIPTED_ENV = ("OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_API_KEY", "OPENAI_AGENTS_DISABLE_TRACING")


class FakeClock:
    """A clock that moves only when told to. Thread-safe."""

    def __init__(self, start: float = 1_000.0, wall_start: float = 1_700_000_000.0) -> None:
        self._lock = threading.Lock()
        self._mono = float(start)
        self._wall = float(wall_start)

    def monotonic(self) -> float:
        return self._mono

    def wall(self) -> float:
        return self._wall

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds`` (>= 0)."""
        if seconds < 0:
            raise ConfigError(f"FakeClock.advance(seconds=...) must be >= 0, got {seconds!r}")
        with self._lock:
            self._mono += seconds
            self._wall += seconds

    def __repr__(self) -> str:
        return f"FakeClock(monotonic={self._mono}, wall={self._wall})"


class CapturedEvents(list[dict[str, Any]]):
    """The events :func:`capture_events` collected (a list of envelope dicts), with a filter."""

    def of(
        self,
        category: str | None = None,
        name: str | None = None,
        outcome: str | None = None,
        tool: str | None = None,
    ) -> list[dict[str, Any]]:
        """The captured events matching every field given, in order."""
        want = {"category": category, "name": name, "outcome": outcome, "tool": tool}
        want = {key: value for key, value in want.items() if value is not None}
        return [event for event in list(self) if all(event.get(key) == value for key, value in want.items())]


@contextlib.contextmanager
def capture_events() -> Iterator[CapturedEvents]:
    """Collect every event emitted inside the block (from any thread), synchronously, in emission order.

    Example::

        from actguard.testing import capture_events

        with capture_events() as events:
            with actguard.RunContext(run_id="r1"):
                ...
        assert [e["name"] for e in events.of(category="run")] == ["run_start", "run_end"]
    """
    from actguard import reporting

    events = CapturedEvents()

    def sink(event: dict[str, Any]) -> None:
        events.append(event)

    reporting.add_sink(sink)
    try:
        yield events
    finally:
        reporting.remove_sink(sink)


@contextlib.contextmanager
def scripted_model() -> Iterator[str]:
    """Serve a scripted OpenAI-compatible model on 127.0.0.1 and point the OpenAI SDK at it, for the block.

    Inside the block ``OPENAI_BASE_URL`` (and ``OPENAI_API_BASE``) is the model's URL and ``OPENAI_API_KEY`` a
    placeholder, so code that builds an OpenAI client, or a framework model on top of one, talks to the scripted
    model: no network, no key. Every conversation gets a short answer with token usage (Chat Completions and the
    Responses API), which ``BudgetGuard`` meters like a real one. The variables are restored on exit. Not
    thread-safe with other code changing those variables. From a shell: ``actguard scripted-model``.

    Example::

        import openai
        from actguard import BudgetGuard
        from actguard.testing import scripted_model

        with scripted_model(), BudgetGuard(usd_limit=0.05) as guard:
            openai.OpenAI().chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}])
        assert guard.tokens_used > 0

    Yields:
        The model's OpenAI ``base_url``.
    """
    from actguard.cli._scripted_model import serve

    saved = {name: os.environ.get(name) for name in _SCRIPTED_ENV}
    with serve() as base_url:
        os.environ.update(
            OPENAI_BASE_URL=base_url,
            OPENAI_API_BASE=base_url,
            OPENAI_API_KEY="scripted",
            OPENAI_AGENTS_DISABLE_TRACING="1",
        )
        try:
            yield base_url
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@dataclass(frozen=True)
class ScriptedResponse:
    """One scripted model response, framework-neutral: tool calls (``calls``: name and arguments) or a final answer
    (``text``), with the usage it reports (``details``: further provider usage fields, where a model plays them)."""

    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    text: str = ""
    input_tokens: int = 100
    output_tokens: int = 20
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    details: dict[str, int] = field(default_factory=dict)


def tool_call(
    name: str,
    args: dict[str, Any] | None = None,
    *,
    input_tokens: int = 100,
    output_tokens: int = 20,
    cached_input_tokens: int = 0,
    reasoning_tokens: int = 0,
) -> ScriptedResponse:
    """A response calling tool (or handoff) ``name`` with ``args``, reporting this usage."""
    return ScriptedResponse(
        calls=((name, dict(args or {})),),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=cached_input_tokens,
        reasoning_tokens=reasoning_tokens,
    )


def answer(
    text: str,
    *,
    input_tokens: int = 100,
    output_tokens: int = 20,
    cached_input_tokens: int = 0,
    reasoning_tokens: int = 0,
) -> ScriptedResponse:
    """A final answer, reporting this usage."""
    return ScriptedResponse(
        text=text,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=cached_input_tokens,
        reasoning_tokens=reasoning_tokens,
    )
