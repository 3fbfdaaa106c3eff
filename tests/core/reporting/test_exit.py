"""Interpreter exit flushes queued events (a real subprocess), within a bounded time when the gateway is dead."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import warnings
from typing import Any

import pytest

WAIT = 60.0

SCRIPT = textwrap.dedent(
    """
    import sys
    import actguard
    from actguard import reporting

    actguard.configure({
        "agent_id": "exiting",
        "gateway_url": sys.argv[1],
        "api_key": "sk-exit-SECRET",
        "flush_interval": 3600,   # nothing is sent before exit unless exit sends it
        "batch_size": 20,
        "backoff_initial": 0.01,
        "backoff_max": 0.05,
        "shutdown_timeout": float(sys.argv[3]),
    })
    for i in range(50):
        reporting.emit("tool_guard", "rate_limit", "allowed", payload={"i": i})
    if sys.argv[2] == "exit":
        sys.exit(3)
    if sys.argv[2] == "raise":
        raise RuntimeError("the agent crashed")
    """
)


def run(url: str, how: str, shutdown_timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, url, how, str(shutdown_timeout)],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )


@pytest.mark.parametrize(("how", "returncode"), [("end", 0), ("exit", 3), ("raise", 1)])
def test_events_queued_at_exit_reach_the_gateway(gateway: Any, how: str, returncode: int) -> None:
    proc = run(gateway.url, how)
    assert proc.returncode == returncode, proc.stderr
    ids = gateway.accepted_ids()
    assert len(ids) == 50 and len(set(ids)) == 50
    assert [e["payload"]["i"] for r in gateway.received for e in r.body["events"]] == list(range(50))
    assert [len(r.ids) for r in gateway.received] == [20, 20, 10]
    assert "sk-exit-SECRET" not in proc.stderr + proc.stdout


def test_exit_with_a_dead_gateway_gives_up_after_shutdown_timeout() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run(f"http://127.0.0.1:{port}/v1/events", "end", shutdown_timeout=0.2)
    assert proc.returncode == 0
    assert "not delivered before the shutdown deadline" in proc.stderr
    assert "sk-exit-SECRET" not in proc.stderr + proc.stdout


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_sends_only_its_own_events_with_its_own_ids(gateway: Any) -> None:
    import actguard
    from actguard import reporting

    actguard.configure({"gateway_url": gateway.url, "api_key": "k", "flush_interval": 3600})
    for i in range(5):
        reporting.emit("tool_guard", "rate_limit", "allowed", payload={"who": "parent", "i": i})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() of a multi-threaded process
        pid = os.fork()
    if pid == 0:  # the child: the parent's queue and sender thread are not ours
        code = 1
        try:
            for i in range(3):
                reporting.emit("tool_guard", "rate_limit", "allowed", payload={"who": "child", "i": i})
            code = 0 if actguard.shutdown(timeout=WAIT) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert reporting.flush(WAIT)
    events = [e for r in gateway.received for e in r.body["events"]]
    assert sorted((e["payload"]["who"], e["payload"]["i"]) for e in events) == sorted(
        [("parent", i) for i in range(5)] + [("child", i) for i in range(3)]
    )
    assert len({e["id"] for e in events}) == 8
