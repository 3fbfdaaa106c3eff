"""Enforcement across real processes: 4 worker processes x 8 threads each, sharing one SQLite file or one Redis.

The workers (``mp_worker.py``) run actguard's real guards; the test sends every worker the same command at once and
sums what they saw. Windows are an hour long, so no window can roll over during a trial: counts must be exact.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

WORKER = Path(__file__).with_name("mp_worker.py")
PROCESSES = 4
TRIALS = 15


class Pool:
    """Worker processes spoken to by JSON lines."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.procs = [
            subprocess.Popen(
                [sys.executable, str(WORKER), *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(PROCESSES)
        ]
        self.queues: list[queue.Queue[str]] = []
        for proc in self.procs:
            q: queue.Queue[str] = queue.Queue()
            threading.Thread(target=self._pump, args=(proc, q), daemon=True).start()
            self.queues.append(q)
        for answer in self._read_all():
            assert "ready" in answer, answer

    @staticmethod
    def _pump(proc: subprocess.Popen[str], q: queue.Queue[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            q.put(line)
        q.put("")

    def _read(self, i: int) -> dict[str, Any]:
        line = self.queues[i].get(timeout=120)
        assert line, f"worker {i} exited (code {self.procs[i].poll()})"
        answer: dict[str, Any] = json.loads(line)
        assert "error" not in answer, answer["error"]
        return answer

    def _read_all(self) -> list[dict[str, Any]]:
        return [self._read(i) for i in range(len(self.procs))]

    def ask(self, *commands: dict[str, Any]) -> list[dict[str, Any]]:
        """Send command i to worker i (one command: to every worker) all at once; return their answers."""
        cmds = list(commands) if len(commands) > 1 else [commands[0]] * len(self.procs)
        for proc, cmd in zip(self.procs, cmds, strict=True):
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(cmd) + "\n")
            proc.stdin.flush()
        return self._read_all()

    def close(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in self.procs:
            proc.wait(timeout=30)
            assert proc.stdout is not None
            proc.stdout.close()


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def pool(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pool, Path]]:
    """Four workers on one shared store, and the file where the idempotent tool records each real execution."""
    tmp = tmp_path_factory.mktemp(f"mp-{request.param}")
    effects = tmp / "effects.log"
    effects.touch()
    env = {**os.environ, "ACTGUARD_EFFECTS_FILE": str(effects)}
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        args = ["redis", server.url, f"mp{uuid.uuid4().hex[:8]}"]
    else:
        args = ["sqlite", str(tmp / "shared.db")]
    workers = Pool(args, env)
    yield workers, effects
    workers.close()


def test_rate_limit_admits_exactly_n_across_processes_and_threads(pool: tuple[Pool, Path]) -> None:
    workers, _ = pool
    for trial in range(TRIALS):
        bucket = f"trial-{trial}-{uuid.uuid4().hex[:6]}"
        answers = workers.ask({"op": "rate", "bucket": bucket, "calls": 3})  # 96 attempts on max_calls=5
        assert sum(a["admitted"] for a in answers) == 5, (trial, answers)


def test_idempotent_tool_runs_once_across_processes(pool: tuple[Pool, Path]) -> None:
    workers, effects = pool
    for n in range(3):
        key = f"inv-{n}-{uuid.uuid4().hex[:6]}"
        answers = workers.ask({"op": "idem", "run_id": "req-shared", "key": key})
        ran = [line for line in effects.read_text().splitlines() if line.endswith(f" {key}")]
        assert len(ran) == 1, ran  # 32 concurrent calls, one execution
        results = [r for a in answers for r in a["results"]]
        invoices = [r for r in results if r != "in_progress"]
        pid = ran[0].split()[0]
        assert invoices, results
        assert all(r == {"invoice": f"in-{pid}", "amount": 5000} for r in invoices), invoices
        # afterwards every process gets the stored result without running the tool again
        again = workers.ask({"op": "idem", "run_id": "req-shared", "key": key})
        assert {json.dumps(r) for a in again for r in a["results"]} == {json.dumps(invoices[0])}
        assert len([line for line in effects.read_text().splitlines() if line.endswith(f" {key}")]) == 1


def test_breaker_opened_in_one_process_is_open_in_the_others(pool: tuple[Pool, Path]) -> None:
    workers, _ = pool
    first, *_ = workers.ask(
        {"op": "breaker", "fail": True, "calls": 4},
        *[{"op": "breaker", "fail": False, "calls": 0}] * (PROCESSES - 1),
    )
    assert first["outcomes"] == ["failed", "failed", "failed", "open:3"]
    answers = workers.ask({"op": "breaker", "fail": False, "calls": 2})
    assert all(a["outcomes"] == ["open:3", "open:3"] for a in answers), answers


def test_shared_budget_stops_every_worker_once_spent(pool: tuple[Pool, Path]) -> None:
    workers, _ = pool
    user = f"alice-{uuid.uuid4().hex[:6]}"
    cmd = {"op": "budget", "user": user, "usd_limit": 1.0, "cost": 0.01, "calls": 10}  # 320 attempts, 100 affordable
    made = sum(a["calls"] for a in workers.ask(cmd))
    # Check-then-charge is not one atomic step, so each of the 32 threads may have one call in flight when the
    # budget runs out: at least the 100 affordable calls, at most 31 more.
    assert 100 <= made <= 100 + PROCESSES * 8 - 1, made
    # once spent, every worker of every process is refused before its first call
    assert [a["calls"] for a in workers.ask(cmd)] == [0] * PROCESSES


@pytest.mark.parametrize("limit", ["token_limit", "usd_limit"])
def test_shared_budget_reservations_never_overshoot(pool: tuple[Pool, Path], limit: str) -> None:
    """32 concurrent callers, each call reserving its worst case first: the shared total never crosses the limit."""
    workers, _ = pool
    cap = 20_000 if limit == "token_limit" else 0.05
    for trial in range(5):
        user = f"llm-{limit}-{trial}-{uuid.uuid4().hex[:6]}"
        cmd = {"op": "llm", "user": user, limit: cap, "prompt": 200, "max": 300, "calls": 20}
        made = sum(a["calls"] for a in workers.ask(cmd))
        assert 0 < made < PROCESSES * 8 * 20  # the budget ran out before every call was made
        spent = workers.ask({"op": "spent", "user": user})[0]
        if limit == "token_limit":
            assert spent["tokens"] <= cap, (trial, spent)
            # refused only when the calls in flight could have crossed it: each reserves at most 500 tokens
            assert spent["tokens"] > cap - PROCESSES * 8 * 500, (trial, spent)
        else:
            assert spent["usd"] <= cap + 1e-12, (trial, spent)


def test_workers_fail_closed_while_redis_is_down_and_recover_without_restarting(
    own_redis_server: Any, tmp_path: Path
) -> None:
    server = own_redis_server
    workers = Pool(["redis", server.url, "fault"], {**os.environ, "ACTGUARD_EFFECTS_FILE": str(tmp_path / "e.log")})
    try:
        assert [a["outcome"] for a in workers.ask({"op": "probe", "bucket": "b"})] == ["ok"] * PROCESSES
        server.stop()
        down = workers.ask({"op": "probe", "bucket": "b"})
        assert down == [{"outcome": "unavailable", "cause": "ConnectionError"}] * PROCESSES
        server.start()  # same port, same worker processes
        assert [a["outcome"] for a in workers.ask({"op": "probe", "bucket": "b"})] == ["ok"] * PROCESSES
    finally:
        workers.close()


def test_facts_proven_in_one_worker_are_enforced_in_another(pool: tuple[Pool, Path]) -> None:
    workers, _ = pool
    session = f"req-{uuid.uuid4().hex[:6]}"
    idle = {"op": "breaker", "fail": False, "calls": 0}
    write = {"op": "custody", "session": session, "user": "alice", "action": "write", "order_id": "alice-o2"}
    before = workers.ask(write, idle, idle, idle)[0]
    assert before == {"refused": "MISSING_FACT"}  # nobody has read the order yet
    read = {"op": "custody", "session": session, "user": "alice", "action": "read"}
    assert workers.ask(read, idle, idle, idle)[0] == {"ids": ["alice-o1", "alice-o2"]}  # worker 0 reads
    answers = workers.ask(idle, write, write, write)[1:]  # workers 1-3 write
    assert answers == [{"result": "refunded alice-o2"}] * 3
    other_user = {**write, "user": "bob"}  # the same ids in another scope stay unproven
    assert workers.ask(idle, other_user, idle, idle)[1] == {"refused": "MISSING_FACT"}
