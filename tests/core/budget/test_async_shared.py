"""Async calls under a shared BudgetGuard: the store work runs off the event loop, with the sync path's decisions.

A shared guard waits on its store before and after every LLM call (the reservation, the settle). From async code
that wait happens in a worker thread, so a stalled Redis holds up the call that needs it and no other task; the
checks, refusals and counts are the sync path's own. A per-process guard never touches a store and never leaves the
event loop's thread.
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest
from budget_fakes import LLMServer, chat_completion, chat_stream, guard_options
from loop_ticker import Ticker

import actguard
from actguard import BudgetExceededError, BudgetGuard, LLMUsage
from actguard.budget import metering

TIMEOUT = 0.25  # the stores' socket / lock timeout: a stalled call waits this long, then fails closed
PROMPT = [{"role": "user", "content": "x" * 40}]
LIMIT = 1_000
# Every call reports 100 tokens: exactly what a call with max_tokens=100 reserves (a guard that is not strict
# reserves the output cap), so ten calls fit in LIMIT and concurrent calls can never overshoot it.
USAGE = {"prompt_tokens": 40, "completion_tokens": 60}


class Stall:
    """Makes a real store unavailable for one call: Redis frozen (SIGSTOP) past its socket timeout, or SQLite's write
    lock held by another connection past the store's lock timeout. ``reserving`` is set while a reservation is on
    its way to the store (for another task to look at)."""

    def __init__(self, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        self.store: actguard.Store
        if kind == "redis":
            self.server = request.getfixturevalue("own_redis_server")
            self.store = actguard.RedisStore(self.server.url, prefix="async-stall", timeout=TIMEOUT)
        else:
            self.path = tmp_path / "stall.db"
            self.store = actguard.SQLiteStore(self.path, timeout=TIMEOUT)
        self.store.spend_get("warm")  # connected, tables made
        self.reserving = threading.Event()
        reserve = self.store.spend_reserve

        def watched(*args: Any, **kwargs: Any) -> Any:
            self.reserving.set()
            try:
                return reserve(*args, **kwargs)
            finally:
                self.reserving.clear()

        self.store.spend_reserve = watched  # type: ignore[method-assign]

    def begin(self) -> None:
        if self.kind == "redis":
            self.server.pause()  # until end(): however late a loaded machine gets the call to the store
        else:
            self.holder = sqlite3.connect(self.path, isolation_level=None)
            self.holder.execute("BEGIN IMMEDIATE")

    def end(self) -> None:
        if self.kind == "redis":
            self.server.resume()
        else:
            self.holder.execute("ROLLBACK")
            self.holder.close()


@pytest.mark.parametrize("kind", ["redis", "sqlite"])
async def test_a_stalled_store_holds_up_the_async_call_not_the_event_loop(
    kind: str, llm: LLMServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    assert actguard.prices.lookup("gpt-4o", "openai") is not None  # loaded before the stall (the first load is slow)
    stall = Stall(kind, tmp_path, request)
    sync_client, async_client = openai.OpenAI(), openai.AsyncOpenAI()
    llm.queue(*(chat_completion(id=f"after-{n}", **USAGE) for n in range(2)))
    outcomes: dict[str, tuple[Any, ...]] = {}
    for mode in ("sync", "async"):
        sent = len(llm.requests)
        ticker = Ticker(stall.reserving)
        async with BudgetGuard(user_id=mode, token_limit=LIMIT, shared=True, store=stall.store) as guard:
            stall.begin()
            with pytest.raises(actguard.StoreUnavailable) as info:
                if mode == "sync":  # the sync client, on this thread: the reference, and a loop that cannot run
                    sync_client.chat.completions.create(model="gpt-4o", messages=PROMPT, max_tokens=100)  # type: ignore[arg-type]
                else:
                    await async_client.chat.completions.create(model="gpt-4o", messages=PROMPT, max_tokens=100)  # type: ignore[arg-type]
            ticks = await ticker.stop()
            refused = (type(info.value), len(llm.requests) - sent, guard.usage.calls)
            stall.end()
            # the refused call handed its reservation back (parked while the store was away, delivered before the
            # next reservation): 950 + 100 would not fit under 1,000 if it still held budget
            if mode == "sync":
                sync_client.chat.completions.create(model="gpt-4o", messages=PROMPT, max_tokens=950)  # type: ignore[arg-type]
            else:
                await async_client.chat.completions.create(model="gpt-4o", messages=PROMPT, max_tokens=950)  # type: ignore[arg-type]
        outcomes[mode] = (*refused, guard.tokens_used, stall.store.spend_get(f"actguard:budget::{mode}").tokens)
        if mode == "sync":
            assert ticks == 0  # the probe bites: a blocked loop gives the other task no turn
        else:
            assert ticks > 0  # the other task ran while the reservation waited on the stalled store
    # the same refusal (nothing sent, nothing charged), then the same spend, counted once
    assert outcomes["async"] == outcomes["sync"] == (actguard.StoreUnavailable, 0, 0, 100, 100)
    await async_client.close()
    sync_client.close()
    stall.store.close()


def _store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> actguard.Store:
    if kind == "sqlite":
        return actguard.SQLiteStore(tmp_path / "budget.db")
    server = request.getfixturevalue("redis_server")
    return actguard.RedisStore(server.url, prefix=f"async-tasks-{request.node.name}")


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize("kind", ["redis", "sqlite"])
async def test_concurrent_tasks_under_one_shared_budget_count_exactly(
    kind: str, stream: bool, llm: LLMServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = _store(kind, tmp_path, request)
    if stream:
        llm.queue(*(chat_stream(["Once ", "upon"], id=f"s{n}", **USAGE) for n in range(40)))
    else:
        llm.queue(*(chat_completion(id=f"c{n}", **USAGE) for n in range(40)))
    client = openai.AsyncOpenAI()
    refused: list[int] = []

    async def worker(n: int) -> None:
        while True:  # calls until the shared budget refuses one
            try:
                if stream:
                    response = await client.chat.completions.create(
                        model="gpt-4o",
                        messages=PROMPT,
                        max_tokens=100,
                        stream=True,  # type: ignore[arg-type]
                    )
                    async for _ in response:
                        pass
                else:
                    await client.chat.completions.create(model="gpt-4o", messages=PROMPT, max_tokens=100)  # type: ignore[arg-type]
            except BudgetExceededError:
                refused.append(n)
                return

    async with BudgetGuard(user_id="team", token_limit=LIMIT, shared=True, store=store) as guard:
        await asyncio.gather(*(worker(n) for n in range(8)))
    spent = store.spend_get("actguard:budget::team").tokens
    assert sorted(refused) == list(range(8))
    # ten calls of 100 tokens reach the limit and are each counted once; every later one is refused before sending
    assert (len(llm.requests), guard.usage.calls, guard.tokens_used, spent) == (10, 10, LIMIT, LIMIT)
    probe = store.spend_reserve(  # 1 more token fits under LIMIT + 1 only when nothing is held
        "actguard:budget::team", "probe", 0.0, 1, usd_limit=None, token_limit=LIMIT + 1, ttl=None, lease=60
    )
    assert probe.granted  # no reservation left held
    await client.close()
    store.close()


class CountingExecutor(ThreadPoolExecutor):
    """The event loop's default executor, counting the work handed to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


@pytest.mark.parametrize("shared", [False, True], ids=["per-process", "shared"])
async def test_only_a_shared_guard_leaves_the_event_loop(shared: bool, llm: LLMServer) -> None:
    llm.queue(chat_completion(id="p0", prompt_tokens=100, completion_tokens=10))
    llm.queue(chat_completion(id="p1", prompt_tokens=100, completion_tokens=10))
    llm.queue(chat_stream(["Once ", "upon"], id="p2", prompt_tokens=10, completion_tokens=2))
    client = openai.AsyncOpenAI()
    await client.chat.completions.create(model="gpt-4o", messages=PROMPT)  # type: ignore[arg-type]
    executor = CountingExecutor()  # from here on (the SDK looks up its platform headers once, in a thread)
    asyncio.get_running_loop().set_default_executor(executor)
    options: dict[str, Any] = {"shared": True, "store": actguard.MemoryStore()} if shared else {}
    async with BudgetGuard(user_id="u", token_limit=LIMIT, **options) as guard:
        await client.chat.completions.create(model="gpt-4o", messages=PROMPT)  # type: ignore[arg-type]
        stream = await client.chat.completions.create(model="gpt-4o", messages=PROMPT, stream=True)  # type: ignore[arg-type]
        async for _ in stream:
            pass
        await guard.acheck_call("gpt-4o", provider="openai", prompt_tokens=10, max_output_tokens=10)
        await guard.arecord(LLMUsage(model="gpt-4o", provider="openai", input_tokens=10, output_tokens=10))
        await guard.acheck()
        await actguard.aadd_cost("search", 0.01)
    assert (guard.tokens_used, guard.usage.calls, guard.costs) == (110 + 12 + 20, 3, {"search": 0.01})
    if shared:
        assert executor.submitted > 0  # the probe bites: a shared guard's steps ran in worker threads
    else:
        assert executor.submitted == 0  # a per-process guard runs every step right on the event loop
    await client.close()


async def test_what_a_shared_guard_metered_off_the_loop_is_seen_by_the_calling_task(llm: LLMServer) -> None:
    """A framework adapter learns from the calling task's context that the SDK meter charged a call
    (actguard.budget.metering): the steps that ran in a worker thread leave their marks there too."""
    llm.queue(chat_completion(id="m1", **USAGE))
    llm.queue(chat_stream(["Once ", "upon"], id="m2", **USAGE))
    client = openai.AsyncOpenAI()
    async with BudgetGuard(user_id="u", token_limit=LIMIT, shared=True, store=actguard.MemoryStore()) as guard:
        before = metering.mark()
        await client.chat.completions.create(model="gpt-4o", messages=PROMPT, max_tokens=100)  # type: ignore[arg-type]
        stream = await client.chat.completions.create(model="gpt-4o", messages=PROMPT, max_tokens=100, stream=True)  # type: ignore[arg-type]
        async for _ in stream:
            pass
        assert [call.call_id for call in metering.since(before)] == ["m1", "m2"]
    assert guard.shared_usage().tokens == 200
    await client.close()


@pytest.mark.parametrize("shared", [False, True], ids=["per-process", "shared"])
async def test_async_raw_and_streaming_responses_are_metered(llm: LLMServer, shared: bool) -> None:
    """``with_raw_response`` and ``with_streaming_response`` of the async client: metered when parsed, stream early
    closes charged their estimate, each once, whichever path (on the loop or in a worker thread) did it."""
    client = openai.AsyncOpenAI()
    llm.queue(chat_completion(id="r1", prompt_tokens=100, completion_tokens=10))
    llm.queue(chat_completion(id="r2", prompt_tokens=200, completion_tokens=20))
    llm.queue(chat_stream(["Ro", "me"], id="r3", prompt_tokens=300, completion_tokens=30))
    llm.queue(chat_stream(["x" * 40] * 5, id="r4", prompt_tokens=400, completion_tokens=40))
    completions = client.chat.completions
    async with BudgetGuard(usd_limit=1.0, **guard_options(shared)) as guard:
        raw = await completions.with_raw_response.create(model="gpt-4o", messages=PROMPT)  # type: ignore[arg-type]
        assert (await _parsed(raw)).id == "r1"
        async with completions.with_streaming_response.create(model="gpt-4o", messages=PROMPT) as response:  # type: ignore[arg-type]
            assert (await response.parse()).id == "r2"
        async with completions.with_streaming_response.create(
            model="gpt-4o",
            messages=PROMPT,  # type: ignore[arg-type]
            stream=True,
        ) as response:
            assert (
                "".join([c.choices[0].delta.content or "" async for c in await response.parse() if c.choices]) == "Rome"
            )
        stream = await completions.create(model="gpt-4o", messages=PROMPT, stream=True)  # type: ignore[arg-type]
        await stream.__anext__()
        await stream.__anext__()
        await stream.close()  # closed early: charged the prompt estimate (11) + 40 characters (10 tokens)
    assert guard.usage.calls == 4
    assert guard.tokens_used == 110 + 220 + 330 + 21
    await client.close()


async def _parsed(raw: Any) -> Any:
    parsed = raw.parse()
    return await parsed if inspect.isawaitable(parsed) else parsed


def test_outside_asyncio_a_shared_guard_runs_its_steps_where_it_is() -> None:
    """Another event loop (trio) has no asyncio executor: the step runs in the awaiting code, as it always did."""
    guard = BudgetGuard(user_id="u", token_limit=LIMIT, shared=True, store=actguard.MemoryStore())
    step = guard.arecord(LLMUsage(model="gpt-4o", provider="openai", input_tokens=10, output_tokens=10))
    with pytest.raises(StopIteration):  # driven by hand, as a non-asyncio loop would: done in one step
        step.send(None)
    assert guard.shared_usage().tokens == 20
