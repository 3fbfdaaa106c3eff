"""100 sessions at once, in threads and in tasks: each sees its own facts and nobody else's."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import actguard
from actguard import GuardError, MemoryStore, RequireFact, enforce, prove

N = 100


def outcome(fn: Any, *args: Any) -> str:
    try:
        return str(fn(*args))
    except GuardError as exc:
        return exc.code


@prove(kind="order_id", extract="id")
def list_orders(user: str) -> list[dict[str, str]]:
    return [{"id": f"{user}-order"}, {"id": "shared-looking"}]


@enforce([RequireFact("order_id", "order_id")])
def delete_order(order_id: str) -> str:
    return "deleted"


@prove(kind="order_id", extract="id")
async def alist_orders(user: str) -> list[dict[str, str]]:
    await asyncio.sleep(0)
    return [{"id": f"{user}-order"}]


@enforce([RequireFact("order_id", "order_id")])
async def adelete_order(order_id: str) -> str:
    await asyncio.sleep(0)
    return "deleted"


def test_threads_no_cross_talk(store: MemoryStore) -> None:
    barrier = threading.Barrier(N)
    results: dict[int, tuple[str, str, str]] = {}

    def agent(i: int) -> None:
        # every session has the same id; only the scope tells them apart
        with actguard.session("request", {"user_id": f"u{i}"}):
            early = outcome(delete_order, f"u{i}-order")  # before its own read
            barrier.wait()  # every thread is inside its session now
            list_orders(f"u{i}")
            barrier.wait()  # every session has proven its own order
            own = outcome(delete_order, f"u{i}-order")
            other = outcome(delete_order, f"u{(i + 1) % N}-order")
            results[i] = (early, own, other)

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: ("MISSING_FACT", "deleted", "MISSING_FACT") for i in range(N)}


async def test_tasks_no_cross_talk(store: MemoryStore) -> None:
    everyone_proved = asyncio.Event()
    proved = 0

    async def agent(i: int) -> tuple[str, str]:
        nonlocal proved
        async with actguard.session(f"s{i % 7}", {"user_id": f"u{i}"}):
            await alist_orders(f"u{i}")
            proved += 1
            if proved == N:
                everyone_proved.set()
            await everyone_proved.wait()
            results = []
            for target in (f"u{i}-order", f"u{(i + 1) % N}-order"):
                try:
                    results.append(await adelete_order(target))
                except GuardError as exc:
                    results.append(exc.code)
            return results[0], results[1]

    got = await asyncio.gather(*(agent(i) for i in range(N)))
    assert got == [("deleted", "MISSING_FACT")] * N


def test_threads_and_tasks_together_share_one_store(store: MemoryStore) -> None:
    """Sync threads and event loops in other threads, all at once."""
    barrier = threading.Barrier(N)
    results: dict[str, str] = {}

    def sync_agent(i: int) -> None:
        with actguard.session("mix", {"user_id": f"t{i}"}):
            list_orders(f"t{i}")
            barrier.wait()
            results[f"t{i}"] = outcome(delete_order, f"t{i}-order") + "/" + outcome(delete_order, f"a{i}-order")

    def async_agent(i: int) -> None:
        async def main() -> str:
            async with actguard.session("mix", {"user_id": f"a{i}"}):
                await alist_orders(f"a{i}")
                await asyncio.to_thread(barrier.wait)
                own = await adelete_order(f"a{i}-order")
                try:
                    await adelete_order(f"t{i}-order")
                    other = "deleted"
                except GuardError as exc:
                    other = exc.code
                return f"{own}/{other}"

        results[f"a{i}"] = asyncio.run(main())

    threads = [threading.Thread(target=sync_agent, args=(i,)) for i in range(N // 2)]
    threads += [threading.Thread(target=async_agent, args=(i,)) for i in range(N // 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {k: "deleted/MISSING_FACT" for k in results} and len(results) == N
