from __future__ import annotations

import asyncio
import threading

import pytest

import actguard
from actguard import ContextThreadPoolExecutor, RunContext, bind_context, current_run


def test_run_id_generated_and_restored_when_nested() -> None:
    assert current_run() is None
    with RunContext(user_id="alice") as outer:
        assert outer.run_id and current_run() is outer
        with RunContext(run_id="inner") as inner:
            assert current_run() is inner and inner.run_id == "inner"
        assert current_run() is outer
    assert current_run() is None


def test_plain_thread_sees_no_run_but_bound_callable_and_pool_do() -> None:
    seen: list[object] = []
    with RunContext(run_id="r1") as run:
        t = threading.Thread(target=lambda: seen.append(current_run()))
        t.start()
        t.join()
        t = threading.Thread(target=bind_context(lambda: seen.append(current_run())))
        t.start()
        t.join()
        with ContextThreadPoolExecutor(2) as pool:
            assert pool.submit(current_run).result() is run
    assert seen == [None, run]


async def test_async_runs_isolated_between_tasks() -> None:
    async def one(run_id: str) -> str | None:
        async with RunContext(run_id=run_id):
            await asyncio.sleep(0)
            run = current_run()
            return run.run_id if run else None

    assert await asyncio.gather(*(one(f"r{i}") for i in range(50))) == [f"r{i}" for i in range(50)]


@pytest.mark.parametrize("kwargs", [{"run_id": ""}, {"run_id": 3}, {"user_id": 5}])
def test_bad_arguments_fail_at_construction(kwargs: dict[str, object]) -> None:
    with pytest.raises(actguard.ConfigError, match=next(iter(kwargs))):
        RunContext(**kwargs)  # type: ignore[arg-type]
