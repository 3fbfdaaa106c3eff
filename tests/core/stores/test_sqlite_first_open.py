"""Workers that open a new SQLite store file at the same moment all succeed.

Switching a new file to WAL races: SQLite answers "database is locked" at once to one of two connections upgrading
their locks together (waiting could deadlock), so its busy timeout never applies there. A fleet started together
(a deploy) must not lose a worker to that.
"""

from __future__ import annotations

import multiprocessing
import warnings
from pathlib import Path
from typing import Any

import pytest

import actguard

WORKERS = 4
ROUNDS = 60  # without the retry, a worker was lost in every run of 60 rounds (2-core machine)


def _open_at_once(path: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        actguard.SQLiteStore(path, timeout=10).close()
        results.put("ok")
    except Exception as exc:  # reported to the test, which shows it
        results.put(repr(exc))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method")
def test_workers_opening_a_new_file_at_once_all_succeed(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    outcomes: list[str] = []
    for round_ in range(ROUNDS):
        barrier, results = ctx.Barrier(WORKERS, timeout=60), ctx.Queue()
        args = (str(tmp_path / f"new-{round_}.db"), barrier, results)
        procs = [ctx.Process(target=_open_at_once, args=args) for _ in range(WORKERS)]
        with warnings.catch_warnings():  # 3.12+ warns on fork() with other threads alive (earlier tests' executors)
            warnings.simplefilter("ignore", DeprecationWarning)
            for proc in procs:
                proc.start()
        outcomes += [results.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(60)
    assert [o for o in outcomes if o != "ok"] == []
    assert len(outcomes) == WORKERS * ROUNDS
