"""The JSONL file sink: one envelope per line, readable by ``actguard events FILE``."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import actguard
from actguard import ActGuardWarning, ConfigError, JsonlSink, reporting
from actguard.cli._events import summarise

Options = Callable[..., reporting.SenderOptions]


def test_each_line_is_one_envelope_and_the_cli_reads_the_file(tmp_path: Path, fast: Options) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(path, options=fast(batch_size=7))
    reporting.add_sink(sink)
    with actguard.RunContext(run_id="r1", user_id="alice"):
        for _ in range(3):
            reporting.emit("tool_guard", "rate_limit", "allowed", tool="send_email")
        reporting.emit("tool_guard", "rate_limit", "blocked", tool="send_email", payload={"retry_after": 12.5})
        reporting.emit("budget", "llm_call", "recorded", payload={"usd": 0.25, "model": "gpt-4o"})
    assert sink.flush(10)
    lines = path.read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert len(events) == 7  # run_start, 5 decisions, run_end
    assert all(e["v"] == 1 and e["run_id"] == "r1" for e in events)
    with path.open() as fh:
        counts, spend, bad = summarise(fh)
    assert counts[("alice", "send_email", "rate_limit", "allowed")] == 3
    assert counts[("alice", "send_email", "rate_limit", "blocked")] == 1
    assert spend == {"alice": 0.25} and bad == 0


def test_lines_from_many_threads_never_interleave(tmp_path: Path, fast: Options) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(path, options=fast(batch_size=50))
    reporting.add_sink(sink)

    def worker() -> None:
        for i in range(250):
            reporting.emit("tool_guard", "timeout", "allowed", payload={"i": i, "pad": "y" * 200})

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sink.flush(10)
    ids = [json.loads(line)["id"] for line in path.read_text().splitlines()]
    assert len(ids) == 2000 == len(set(ids))


def test_configure_events_file(tmp_path: Path) -> None:
    path = tmp_path / "configured.jsonl"
    actguard.configure({"agent_id": "filer", "events_file": str(path), "flush_interval": 0.01})
    reporting.emit("custody", "enforce", "blocked", payload={"code": "MISSING_FACT"})
    actguard.configure(None)  # clearing delivers what was queued
    (event,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert event["agent_id"] == "filer" and event["payload"] == {"code": "MISSING_FACT"}


def test_a_missing_directory_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        JsonlSink(tmp_path / "nope" / "events.jsonl")
    with pytest.raises(ConfigError, match="is a directory"):
        JsonlSink(tmp_path)


def test_a_write_failure_drops_with_a_warning(tmp_path: Path, fast: Options) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(path, options=fast())
    reporting.add_sink(sink)
    path.mkdir()  # the file became a directory: writes fail
    with pytest.warns(ActGuardWarning, match="dropped 1 event"):
        reporting.emit("tool_guard", "rate_limit", "allowed")
        assert sink.flush(10)
    assert sink.stats().dropped_rejected == 1


class _Hostile:
    """A payload value whose str() raises (and, with ``repr_too``, whose repr() raises as well)."""

    def __init__(self, repr_too: bool) -> None:
        self.repr_too = repr_too

    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    def __repr__(self) -> str:
        if self.repr_too:
            raise RuntimeError("no repr either")
        return "<hostile>"


def test_an_event_that_cannot_be_encoded_is_dropped_and_counted_and_the_rest_are_sent(
    tmp_path: Path, fast: Options
) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(path, options=fast(batch_size=3))
    reporting.add_sink(sink)
    reporting.emit("tool_guard", "rate_limit", "allowed", payload={"n": 1})
    reporting.emit("tool_guard", "rate_limit", "allowed", payload={"bad": _Hostile(repr_too=False)})
    reporting.emit("tool_guard", "rate_limit", "allowed", payload={"bad": _Hostile(repr_too=True)})
    reporting.emit("tool_guard", "rate_limit", "allowed", payload={"n": 2})
    assert sink.flush(10)
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["payload"] for e in events] == [{"n": 1}, {"unencodable_payload": "{'bad': <hostile>}"}, {"n": 2}]
    stats = sink.stats()
    assert (stats.sent, stats.dropped_unencodable) == (3, 1)
