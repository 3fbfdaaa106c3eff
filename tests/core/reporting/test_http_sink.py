"""The HTTP gateway sink against a real loopback server: batching, retries, drops, slow and dead gateways."""

from __future__ import annotations

import json
import logging
import socket
import threading
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

import actguard
from actguard import ActGuardWarning, HttpSink, reporting

KEY = "sk-gw-SECRET-0123456789"
WAIT = 20.0

Options = Callable[..., reporting.SenderOptions]


def emit_n(n: int, tool: str = "t") -> None:
    for i in range(n):
        reporting.emit("tool_guard", "rate_limit", "allowed", tool=tool, payload={"i": i})


def sink_to(gateway: Any, options: reporting.SenderOptions, api_key: str | None = KEY) -> HttpSink:
    sink = HttpSink(gateway.url, api_key=api_key, options=options)
    reporting.add_sink(sink)
    return sink


def test_batches_by_count_with_bearer_auth_and_versioned_body(gateway: Any, fast: Options) -> None:
    sink = sink_to(gateway, fast(batch_size=10, flush_interval=60))
    emit_n(25)
    assert sink.flush(WAIT)
    assert [len(r.ids) for r in gateway.received] == [10, 10, 5]
    for r in gateway.received:
        assert r.headers["Authorization"] == f"Bearer {KEY}"
        assert r.headers["Content-Type"] == "application/json"
        assert r.body["v"] == 1 and all(e["v"] == 1 for e in r.body["events"])
    assert [e["payload"]["i"] for r in gateway.received for e in r.body["events"]] == list(range(25))
    assert sink.stats().sent == 25


def test_a_partial_batch_goes_out_after_the_flush_interval(gateway: Any, fast: Options) -> None:
    sink_to(gateway, fast(batch_size=1000, flush_interval=0.01))
    emit_n(3)
    assert gateway.wait_for(lambda: len(gateway.accepted_ids()) == 3)  # nobody called flush


def test_batches_are_cut_by_bytes(gateway: Any, fast: Options) -> None:
    sink = sink_to(gateway, fast(batch_size=1000, max_batch_bytes=2_000, flush_interval=60))
    for i in range(20):
        reporting.emit("tool_guard", "rate_limit", "allowed", payload={"i": i, "pad": "x" * 300})
    assert sink.flush(WAIT)
    sizes = [len(json.dumps(r.body["events"], separators=(",", ":"))) for r in gateway.received]
    assert len(gateway.received) > 1 and all(size <= 2_000 for size in sizes)
    assert len(gateway.accepted_ids()) == 20


def test_retries_after_500_then_delivers_once_on_200(gateway: Any, fast: Options) -> None:
    gateway.script.extend([500, 503, 429])
    sink = sink_to(gateway, fast(batch_size=100, flush_interval=60))
    emit_n(5)
    assert sink.flush(WAIT)
    assert [r.status for r in gateway.received] == [500, 503, 429, 200]
    assert len({tuple(r.ids) for r in gateway.received}) == 1  # the same batch each time
    assert gateway.accepted_ids() == gateway.received[0].ids
    stats = sink.stats()
    assert (stats.sent, stats.retries, stats.dropped_rejected) == (5, 3, 0)


def test_401_drops_the_batch_with_one_warning_that_never_shows_the_key(
    gateway: Any, fast: Options, caplog: pytest.LogCaptureFixture
) -> None:
    gateway.script.extend([401, 401])
    sink = sink_to(gateway, fast(batch_size=3, flush_interval=60))
    caplog.set_level(logging.DEBUG, logger="actguard")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        emit_n(6)
        assert sink.flush(WAIT)
    rejected = [w for w in caught if issubclass(w.category, ActGuardWarning)]
    assert len(rejected) == 1 and "HTTP 401" in str(rejected[0].message)
    assert [r.status for r in gateway.received] == [401, 401]  # not retried
    assert sink.stats().dropped_rejected == 6 and sink.stats().sent == 0
    assert KEY not in str(rejected[0].message) and KEY not in caplog.text and KEY not in repr(sink)


def test_redirects_are_not_followed(gateway: Any, fast: Options) -> None:
    gateway.script.append(307)
    sink = sink_to(gateway, fast(flush_interval=60))
    with pytest.warns(ActGuardWarning, match="HTTP 307"):
        emit_n(1)
        assert sink.flush(WAIT)
    assert len(gateway.received) == 1 and sink.stats().dropped_rejected == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_dead_gateway_never_blocks_the_caller_and_shutdown_gives_up_at_its_deadline(
    fast: Options, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="actguard")
    sink = HttpSink(f"http://127.0.0.1:{_closed_port()}/v1/events", api_key=KEY, options=fast(batch_size=5))
    reporting.add_sink(sink)
    emit_n(10)  # returns although nothing can be delivered
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (sink.flush(WAIT), done.set()), daemon=True)
    waiter.start()
    assert not done.wait(0.2)  # still retrying: nothing was delivered, nothing was dropped
    assert sink.stats().retries >= 2 and sink.stats().sent == 0
    assert sink.close(timeout=0.05) is False
    assert done.wait(WAIT)  # the flush gave up with the close deadline
    assert sink.stats().dropped_shutdown == 10
    assert "Connection" in caplog.text or "refused" in caplog.text.lower()
    assert KEY not in caplog.text


def test_a_slow_gateway_holds_no_caller_and_loses_no_event(gateway: Any, fast: Options) -> None:
    gateway.release.clear()  # the gateway takes each request and sits on it
    sink = sink_to(gateway, fast(batch_size=10, timeout=0.05))
    emit_n(10, tool="first")
    assert gateway.wait_for(lambda: len(gateway.received) >= 1)  # a request is stuck in the gateway
    emit_n(30, tool="later")  # the caller is not held up by it
    assert gateway.wait_for(lambda: len(gateway.received) >= 3)  # timed out and retried
    assert sink.stats().retries >= 1
    gateway.release.set()
    assert sink.flush(WAIT)
    delivered = gateway.accepted_ids()
    assert len(set(delivered)) == 40  # at least once: a timed-out request may have arrived too (ids dedupe it)


def test_shutdown_returns_at_its_deadline_when_the_gateway_hangs(gateway: Any, fast: Options) -> None:
    gateway.release.clear()
    sink_to(gateway, fast(batch_size=1, timeout=WAIT))
    emit_n(3)
    assert gateway.wait_for(lambda: len(gateway.received) >= 1)
    assert actguard.shutdown(timeout=0.1) is False
    gateway.release.set()


def test_a_full_queue_drops_counts_and_warns_once(gateway: Any, fast: Options) -> None:
    gateway.release.clear()
    sink = sink_to(gateway, fast(batch_size=1, queue_size=5, timeout=WAIT))
    emit_n(1, tool="first")
    assert gateway.wait_for(lambda: len(gateway.received) == 1)  # the sender is stuck delivering it
    emit_n(100, tool="later")
    assert sink.stats().dropped_overflow == 95 and sink.stats().queued == 5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gateway.release.set()
        assert sink.flush(WAIT)
        emit_n(100, tool="again")
        assert sink.flush(WAIT)
    overflow = [w for w in caught if "queue_size=5" in str(w.message)]
    assert len(overflow) == 1 and issubclass(overflow[0].category, ActGuardWarning)
    assert len(gateway.accepted_ids()) == 6 + 100 - sink.stats().dropped_overflow + 95


def test_ten_thousand_events_from_16_threads_none_lost_or_duplicated(gateway: Any) -> None:
    actguard.configure(
        {
            "agent_id": "load",
            "gateway_url": gateway.url,
            "api_key": KEY,
            "batch_size": 500,
            "flush_interval": 0.01,
            "queue_size": 20_000,
        }
    )
    start = threading.Barrier(16)

    def worker(n: int) -> None:
        start.wait()
        for i in range(625):
            reporting.emit("tool_guard", "rate_limit", "allowed", tool=f"w{n}", payload={"i": i})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # This configuration's own sink: a sender left retrying by an earlier test must not decide this one.
    from actguard import config

    (sink,) = config._owned_sinks
    assert sink.flush(WAIT), sink.stats()
    ids = gateway.accepted_ids()
    assert len(ids) == 10_000 and len(set(ids)) == 10_000
    events = [e for r in gateway.received for e in r.body["events"]]
    per_worker = Counter(e["tool"] for e in events)
    assert per_worker == {f"w{n}": 625 for n in range(16)}
    assert all(e["agent_id"] == "load" for e in events)
