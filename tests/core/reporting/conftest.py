"""A real HTTP gateway on loopback, started by the test, and a clean reporting state around every test."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import actguard
from actguard import reporting

WAIT = 20.0  # upper bound on any wait; tests finish as soon as the condition holds


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    status: int

    @property
    def ids(self) -> list[str]:
        return [event["id"] for event in self.body["events"]]


class Gateway:
    """A loopback HTTP server recording every POST. ``script`` holds the statuses of the next answers (then 200);
    clearing ``release`` makes handlers wait (a slow gateway) until it is set again."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: deque[int] = deque()
        self.release = threading.Event()
        self.release.set()
        self.cond = threading.Condition()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with gateway.cond:
                    status = gateway.script.popleft() if gateway.script else 200
                    gateway.received.append(Received(dict(self.headers.items()), body, status))
                    gateway.cond.notify_all()
                gateway.release.wait(WAIT)
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                if status in (301, 302, 307, 308):
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/events"

    def wait_for(self, predicate: Callable[[], bool]) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, WAIT)

    def accepted_ids(self) -> list[str]:
        """Ids of the events in the requests answered 2xx, in arrival order (with any duplicates)."""
        with self.cond:
            return [i for r in self.received if 200 <= r.status < 300 for i in r.ids]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway()
    yield gw
    gw.close()


@pytest.fixture(autouse=True)
def clean_reporting() -> Iterator[None]:
    """No configuration, no sinks, no background thread left over from (or to) another test."""
    yield
    actguard.configure(None)
    for sink in list(reporting._sinks):
        reporting.remove_sink(sink)
    reporting.shutdown(timeout=1.0)


def _fast(**overrides: Any) -> reporting.SenderOptions:
    values: dict[str, Any] = {
        "flush_interval": 0.01,
        "timeout": 5.0,
        "backoff_initial": 0.001,
        "backoff_max": 0.01,
        "shutdown_timeout": 5.0,
    }
    values.update(overrides)
    return reporting.SenderOptions(**values)


@pytest.fixture
def fast() -> Callable[..., reporting.SenderOptions]:
    """Sender options with tiny intervals (overridable), so tests stay fast."""
    return _fast
