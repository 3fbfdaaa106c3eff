"""What emitting one guard event costs the caller, against a bare call with the same arguments.

Run: python benchmarks/events.py

Measured in one run, per call (best of several rounds):
- a bare call: a no-op function with emit's signature (the peer);
- ``emit`` with no sink configured (what every guard pays when reporting is off);
- ``emit`` with the HTTP gateway configured via ``actguard.configure()`` to a live loopback server (a real
  ``http.server`` on 127.0.0.1), so the background sender encodes and POSTs while the caller emits;
- ``emit`` with the gateway unreachable (a closed loopback port): the sender retries, the caller only enqueues;
- ``emit`` once that queue is full (overflow: counted and dropped);
- for reference, stdlib ``logging`` through a ``QueueHandler`` (the usual non-blocking way to ship records).
Target: emitting to the gateway costs the caller under 2 microseconds.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import socket
import threading
import time
import warnings
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import actguard
from actguard import reporting

N = 10_000  # calls per round (at most the default queue_size, so an unreachable gateway never overflows in a round)
ROUNDS = 15
TARGET_US = 2.0


def bare(
    category: str,
    name: str,
    outcome: str,
    *,
    tool: str | None = None,
    run_id: str | None = None,
    user_id: str | None = None,
    payload: Any = None,
) -> None:
    return None


def per_call_us(fn: Callable[..., None], between: Callable[[], None] | None = None) -> float:
    """Best-of-rounds mean time per call, in microseconds (the loop is included, as it is in the peer)."""
    payload = {"limit": 5, "observed": 6}
    rounds = []
    for _ in range(ROUNDS):
        if between is not None:
            between()
        start = time.perf_counter_ns()
        for _ in range(N):
            fn("tool_guard", "rate_limit", "allowed", tool="send_email", payload=payload)
        rounds.append((time.perf_counter_ns() - start) / N / 1000)
    return min(rounds)


class _Accept(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    logging.getLogger("actguard").setLevel(logging.ERROR)  # the unreachable gateway is on purpose
    warnings.simplefilter("ignore", actguard.ActGuardWarning)
    results: dict[str, float] = {}
    results["bare call (peer)"] = per_call_us(bare)
    results["emit, no sink"] = per_call_us(reporting.emit)

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1/events"
    actguard.configure({"agent_id": "bench", "gateway_url": url, "api_key": "sk-bench", "queue_size": 1_000_000})
    with actguard.RunContext(run_id="bench-run", user_id="alice"):
        results["emit, gateway on loopback (in a RunContext)"] = per_call_us(
            reporting.emit, between=lambda: reporting.flush(30)
        )
    reporting.flush(30)
    sent = sum(s.stats().sent for s in reporting._sender.all_senders())
    actguard.configure(None)
    server.shutdown()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1/events"
    config = {"gateway_url": dead, "api_key": "sk-bench", "backoff_initial": 0.05, "shutdown_timeout": 0.01}
    actguard.configure(config)
    results["emit, gateway unreachable (queue filling)"] = per_call_us(
        reporting.emit, between=lambda: reporting.shutdown(0)
    )
    for _ in range(2):  # fill the queue, then measure the overflow path
        for _ in range(N):
            reporting.emit("tool_guard", "rate_limit", "allowed")
    results["emit, gateway unreachable (queue full: dropped)"] = per_call_us(reporting.emit)
    actguard.configure(None)
    reporting.shutdown(0)

    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    logger = logging.getLogger("bench.events")
    logger.propagate = False
    logger.addHandler(logging.handlers.QueueHandler(records))
    logger.setLevel(logging.INFO)

    def log(category: str, name: str, outcome: str, **kw: Any) -> None:
        logger.info("%s %s %s", category, name, outcome, extra=kw)

    results["logging.info via QueueHandler (reference)"] = per_call_us(
        log, between=lambda: [records.get_nowait() for _ in range(records.qsize())]
    )

    peer = results["bare call (peer)"]
    width = max(len(k) for k in results)
    print(f"per call, best of {ROUNDS} rounds of {N:,} calls")
    for label, us in results.items():
        print(f"  {label:<{width}}  {us:7.3f} us   x{us / peer:5.1f} bare call")
    gateway_us = results["emit, gateway on loopback (in a RunContext)"]
    print(f"\nevents the loopback gateway accepted: {sent:,} ({ROUNDS} x {N:,} emits + run start and end)")
    verdict = "met" if gateway_us < TARGET_US else "MISSED"
    print(
        f"emit to the gateway costs the caller {gateway_us:.3f} us "
        f"({gateway_us / peer:.1f}x a bare call); target < {TARGET_US} us: {verdict}"
    )


if __name__ == "__main__":
    main()
