"""The adapter contract: one set of scenarios every framework adapter passes through a small harness.

Each adapter's tests define a harness (a class implementing :class:`AdapterHarness`) that turns plain Python
functions into the framework's tools with the adapter's ``guard_tool``, drives the framework's own agent loop with a
scripted model that plays ``turns`` in order (a tool call or a final answer, each reporting usage), and meters it
with the adapter's budget hook configured from ``budget``. Then it runs the scenarios::

    from contract import CONTRACT_SCENARIOS  # tests/integrations is on sys.path via conftest

    @pytest.mark.parametrize("scenario", CONTRACT_SCENARIOS, ids=lambda s: s.__name__)
    def test_contract(scenario): scenario(MyHarness())

Use ``fw = require("langchain_core")`` instead of ``pytest.importorskip``: it skips (with the reason) for a
developer who lacks the framework, but fails when ``ACTGUARD_REQUIRE_FRAMEWORK`` is set, as in its nox session.

The scripted model is priced as ``MODEL`` (a real model in genai-prices) so USD metering is exercised too.
"""

from __future__ import annotations

import importlib
import itertools
import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

import pytest

import actguard
from actguard import BudgetExceededError

__all__ = [
    "require",
    "CONTRACT_SCENARIOS",
    "CORE_SCENARIOS",
    "MODEL",
    "AdapterHarness",
    "BudgetSpec",
    "RunOutcome",
    "ToolSpec",
    "Turn",
    "USAGE_SCENARIOS",
    "assert_one_recorded_event_per_call",
]

MODEL = "gpt-4o"
_tool_ids = itertools.count()  # priced by genai-prices: $2.50 / $10 per million input / output tokens


def require(module: str) -> ModuleType:
    """Import ``module``; skip the calling test module without it, or fail when a framework session requires it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if os.environ.get("ACTGUARD_REQUIRE_FRAMEWORK"):
            raise RuntimeError(
                f"{module} is required in the {os.environ['ACTGUARD_REQUIRE_FRAMEWORK']!r} nox session but "
                f"failed to import: {exc}"
            ) from exc
        pytest.skip(f"{module} is not installed ({exc}); `python -m nox` installs it", allow_module_level=True)
        raise  # unreachable


@dataclass(frozen=True)
class Turn:
    """One model response: a tool call (``tool`` + ``args``) or a final answer (``text``), with its usage."""

    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    input_tokens: int = 100
    output_tokens: int = 20

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class ToolSpec:
    """A plain function and the guards ``guard_tool`` applies to it (``actguard.tool`` kwargs plus prove/enforce).

    ``name``: the tool's name as the model sees it, when it differs from the function's ``__name__`` (the harness
    gives it to the framework's own tool constructor, before ``guard_tool``).
    """

    fn: Callable[..., Any]
    guards: dict[str, Any] = field(default_factory=dict)
    name: str | None = None

    @property
    def tool_name(self) -> str:
        return self.name or self.fn.__name__


@dataclass(frozen=True)
class BudgetSpec:
    """Arguments for the adapter's budget hook (a per-run budget when no BudgetGuard is active)."""

    user_id: str | None = None
    usd_limit: float | None = None
    token_limit: int | None = None


@dataclass
class RunOutcome:
    """What one agent run did, as the harness observed it."""

    model_calls: int  # how many times the scripted model was invoked
    tool_outputs: list[str]  # tool results as the model saw them, in order
    error: BaseException | None  # what the run raised to its caller, if anything
    tokens_used: int  # the run's budget after the run
    usd_used: float


class AdapterHarness(Protocol):
    name: str

    def run(self, turns: list[Turn], tools: list[ToolSpec], budget: BudgetSpec) -> RunOutcome:
        """Run one top-level agent run in the current thread and report what happened (never raises)."""
        ...


def budget_error(error: BaseException | None) -> BudgetExceededError | None:
    """The BudgetExceededError in ``error`` or its cause / context chain (frameworks may wrap it)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, BudgetExceededError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def scenario_budget_stop(h: AdapterHarness) -> None:
    """A token limit crossed by the 2nd model call stops the run before the 3rd model call."""
    turns = [Turn(tool="search", args={"query": f"q{i}"}, input_tokens=500, output_tokens=100) for i in range(3)]
    turns.append(Turn(text="done"))
    out = h.run(turns, [ToolSpec(_noop_tool_named("search"))], BudgetSpec(user_id="alice", token_limit=1000))
    err = budget_error(out.error)
    assert err is not None, f"{h.name}: expected BudgetExceededError, got {out.error!r}"
    assert err.limit_type == "token" and err.limit == 1000
    assert out.model_calls == 2, f"{h.name}: the model was called {out.model_calls} times"
    assert out.tokens_used == 1200
    assert out.usd_used > 0


def _noop_tool_named(name: str) -> Callable[..., Any]:
    def tool(query: str) -> str:
        return f"result for {query}"

    # Guard state is keyed by module + qualified name: a fresh qualname per tool keeps one scenario's rate-limit
    # window from leaking into the next run of the same scenario (a harness may run the contract twice).
    tool.__name__ = name
    tool.__qualname__ = f"{name}_{next(_tool_ids)}"
    tool.__doc__ = "Search the knowledge base for the query."
    return tool


def scenario_refusal_reaches_model(h: AdapterHarness) -> None:
    """A rate-limited tool's refusal comes back to the model as the tool's output; the run goes on."""
    turns = [
        Turn(tool="lookup", args={"query": "a"}),
        Turn(tool="lookup", args={"query": "b"}),
        Turn(text="ok"),
    ]
    tool = ToolSpec(_noop_tool_named("lookup"), {"rate_limit": {"max_calls": 1, "period": 60}})
    out = h.run(turns, [tool], BudgetSpec())
    assert out.error is None, f"{h.name}: {out.error!r}"
    assert out.model_calls == 3
    assert out.tool_outputs[0] == "result for a"
    assert "rate limit" in out.tool_outputs[1].lower(), out.tool_outputs[1]


def scenario_custody(h: AdapterHarness) -> None:
    """A write of an id no read tool returned is refused with actionable text; after the read it goes through."""

    def list_orders(user_id: str) -> list[dict[str, str]]:
        """List the user's orders."""
        return [{"id": "o1"}]

    def delete_order(order_id: str) -> str:
        """Delete an order by id."""
        return f"deleted:{order_id}"

    tools = [
        ToolSpec(list_orders, {"prove": {"kind": "order_id", "extract": "id"}}),
        ToolSpec(delete_order, {"enforce": [actguard.RequireFact("order_id", "order_id")]}),
    ]
    turns = [
        Turn(tool="delete_order", args={"order_id": "o9"}),
        Turn(tool="list_orders", args={"user_id": "alice"}),
        Turn(tool="delete_order", args={"order_id": "o1"}),
        Turn(text="done"),
    ]
    with actguard.session("contract-custody", {"user_id": "alice"}):
        out = h.run(turns, tools, BudgetSpec())
    assert out.error is None, f"{h.name}: {out.error!r}"
    assert "o9" in out.tool_outputs[0] and "MISSING_FACT" in out.tool_outputs[0], out.tool_outputs[0]
    assert out.tool_outputs[2] == "deleted:o1"


def scenario_idempotent_tool(h: AdapterHarness) -> None:
    """Two calls with one idempotency key run the side effect once and both return its result."""
    effects: list[int] = []

    def create_invoice(amount_cents: int, idempotency_key: str) -> str:
        """Create an invoice."""
        effects.append(amount_cents)
        return f"inv-{len(effects)}"

    # Another call sits between the two (some frameworks, CrewAI among them, refuse an identical back-to-back call).
    turns = [
        Turn(tool="create_invoice", args={"amount_cents": 500, "idempotency_key": "k1"}),
        Turn(tool="search", args={"query": "invoice status"}),
        Turn(tool="create_invoice", args={"amount_cents": 500, "idempotency_key": "k1"}),
        Turn(text="done"),
    ]
    tools = [ToolSpec(create_invoice, {"idempotent": {"ttl_s": 600}}), ToolSpec(_noop_tool_named("search"))]
    with actguard.RunContext():
        out = h.run(turns, tools, BudgetSpec())
    assert out.error is None, f"{h.name}: {out.error!r}"
    assert effects == [500]
    assert out.tool_outputs == ["inv-1", "result for invoice status", "inv-1"]


def scenario_concurrent_runs_isolated(h: AdapterHarness) -> None:
    """Eight runs in eight threads each get their own budget, summing exactly their own usage."""
    results: dict[int, RunOutcome] = {}

    def one(i: int) -> None:
        turns = [Turn(tool="search", args={"query": str(i)}, input_tokens=10 * (i + 1), output_tokens=i + 1)]
        turns.append(Turn(text=f"done {i}", input_tokens=10 * (i + 1), output_tokens=i + 1))
        results[i] = h.run(turns, [ToolSpec(_noop_tool_named("search"))], BudgetSpec(user_id=f"u{i}"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, out in results.items():
        assert out.error is None, f"{h.name} run {i}: {out.error!r}"
        assert out.tokens_used == 2 * 11 * (i + 1), (i, out.tokens_used)
        assert out.tool_outputs == [f"result for {i}"]
    assert len(results) == 8


# -- one core under every adapter: tool identity, the refusal rule, the same events ---------------------------------


def _search_tool(label: str) -> Callable[..., Any]:
    """A factory: every tool it builds has one qualified name (``_search_tool.<locals>.search``)."""

    def search(query: str) -> str:
        return f"{label}: {query}"

    search.__name__ = label
    search.__doc__ = f"Search {label.removeprefix('search_')} for the query."
    return search


def scenario_factory_tools_are_independent(h: AdapterHarness) -> None:
    """Two tools built by one factory keep their own guard state: the model's first call to the second one is not
    refused because the first one used a rate-limit slot; each one's own second call is."""
    limit = {"rate_limit": {"max_calls": 1, "period": 60}}
    tools = [ToolSpec(_search_tool("search_web"), limit), ToolSpec(_search_tool("search_news"), limit)]
    turns = [
        Turn(tool="search_web", args={"query": "a"}),
        Turn(tool="search_news", args={"query": "a"}),
        Turn(tool="search_web", args={"query": "b"}),
        Turn(text="done"),
    ]
    out = h.run(turns, tools, BudgetSpec())
    assert out.error is None, f"{h.name}: {out.error!r}"
    assert out.tool_outputs[:2] == ["search_web: a", "search_news: a"], out.tool_outputs
    assert "rate limit" in out.tool_outputs[2].lower() and "'search_web'" in out.tool_outputs[2], out.tool_outputs


def scenario_refusal_names_the_tool_the_model_called(h: AdapterHarness) -> None:
    """A refusal names the tool as the model knows it (``search``), not the Python function behind it, and comes
    with one ``tool_guard`` / ``refusal`` / ``returned_to_model`` event naming it too."""
    from actguard.testing import capture_events

    def search_impl(query: str) -> str:
        """Search the knowledge base for the query."""
        return f"result for {query}"

    tool = ToolSpec(search_impl, {"rate_limit": {"max_calls": 1, "period": 60}}, name="search")
    turns = [Turn(tool="search", args={"query": "a"}), Turn(tool="search", args={"query": "b"}), Turn(text="ok")]
    with capture_events() as events:
        out = h.run(turns, [tool], BudgetSpec())
    assert out.error is None, f"{h.name}: {out.error!r}"
    assert out.tool_outputs[0] == "result for a"
    refusal = out.tool_outputs[1]
    assert "'search'" in refusal and "search_impl" not in refusal, refusal
    returned = events.of(category="tool_guard", name="refusal", outcome="returned_to_model")
    assert [(e["tool"], e["payload"]) for e in returned] == [
        ("search", {"error": "RateLimitExceeded", "code": None})
    ], returned
    [blocked] = events.of(category="tool_guard", name="rate_limit", outcome="blocked")
    assert blocked["tool"] == "search"


def store_unavailable(error: BaseException | None) -> BaseException | None:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, actguard.StoreUnavailable):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def scenario_infrastructure_error_reaches_the_caller(h: AdapterHarness) -> None:
    """A store that cannot be reached (a SQLite database another connection holds a write lock on) stops the run
    with StoreUnavailable for the caller; the model never sees it (its text names the store's location)."""
    import sqlite3
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "guards.db"
        store = actguard.SQLiteStore(path, timeout=0.05)
        tool = ToolSpec(_noop_tool_named("lookup"), {"rate_limit": {"max_calls": 5, "period": 60, "store": store}})
        turns = [Turn(tool="lookup", args={"query": "a"}), Turn(text="done")]
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            out = h.run(turns, [tool], BudgetSpec())
        finally:
            holder.execute("ROLLBACK")
            holder.close()
            store.close()
    assert store_unavailable(out.error) is not None, f"{h.name}: expected StoreUnavailable, got {out.error!r}"
    assert out.model_calls == 1, f"{h.name}: the model was called {out.model_calls} times"
    assert not any("unavailable" in o or folder in o for o in out.tool_outputs), out.tool_outputs


def scenario_budget_stop_event(h: AdapterHarness) -> None:
    """Every adapter reports a stop before the next model call with one event and one payload."""
    from actguard.testing import capture_events

    turns = [Turn(tool="search", args={"query": f"q{i}"}, input_tokens=500, output_tokens=100) for i in range(3)]
    with capture_events() as events:
        out = h.run(turns, [ToolSpec(_noop_tool_named("search"))], BudgetSpec(user_id="alice", token_limit=1000))
    assert budget_error(out.error) is not None, f"{h.name}: {out.error!r}"
    stops = events.of(category="budget", name="llm_call", outcome="blocked")
    # (user_id is the run budget's: harnesses sharing one hook object between users leave it out)
    assert [e["payload"] for e in stops] == [{"guard": None, "limit_type": "token", "limit": 1000, "used": 1200}], stops


def assert_one_recorded_event_per_call(events: Any, calls: int, run_usd: float, where: str) -> list[dict[str, Any]]:
    """``calls`` model calls were reported by exactly ``calls`` ``budget`` / ``llm_call`` / ``recorded`` events, whose
    ``usd`` sum to the run budget's ``run_usd``; returns their payloads, then the ``charged`` ones."""
    recorded = [e["payload"] for e in events.of(category="budget", name="llm_call", outcome="recorded")]
    charged = [e["payload"] for e in events.of(category="budget", name="llm_call", outcome="charged")]
    seen = [(p["guard"], p["call_id"], p["usd"]) for p in recorded]
    assert len(recorded) == calls, f"{where}: {len(recorded)} recorded events for {calls} calls: {seen}"
    assert sum(p["usd"] for p in recorded) == pytest.approx(run_usd) and run_usd > 0, f"{where}: {seen}, ${run_usd}"
    return recorded + charged


def scenario_one_recorded_event_per_call(h: AdapterHarness) -> None:
    """Each model call is reported by exactly one ``budget`` / ``llm_call`` / ``recorded`` event, with or without a
    BudgetGuard of the caller's around the run, so the events' ``usd`` sum to the run's spend; and the caller's guard
    can be read off them too: the ``recorded`` and ``charged`` events naming it in ``guards`` sum to its spend."""
    import contextlib

    from actguard.testing import capture_events

    turns = [
        Turn(tool="search", args={"query": "a"}, input_tokens=300, output_tokens=40),
        Turn(text="done", input_tokens=500, output_tokens=60),
    ]
    for enclosed in (False, True):
        with capture_events() as events, contextlib.ExitStack() as stack:
            caller = stack.enter_context(actguard.BudgetGuard(name="caller")) if enclosed else None
            out = h.run(turns, [ToolSpec(_noop_tool_named("search"))], BudgetSpec(user_id="alice"))
        where = f"{h.name} ({'inside' if enclosed else 'outside'} a caller's BudgetGuard)"
        assert out.error is None, f"{where}: {out.error!r}"
        assert out.model_calls == 2, f"{where}: the model was called {out.model_calls} times"
        reported = assert_one_recorded_event_per_call(events, out.model_calls, out.usd_used, where)
        if caller is not None:
            assert caller.usd_used == pytest.approx(out.usd_used), f"{where}: the caller's guard was not charged"
            to_caller = sum(p["usd"] for p in reported if "caller" in p.get("guards", ()))
            assert to_caller == pytest.approx(caller.usd_used), f"{where}: {reported}"


CORE_SCENARIOS: list[Callable[[AdapterHarness], None]] = [
    scenario_factory_tools_are_independent,
    scenario_refusal_names_the_tool_the_model_called,
    scenario_infrastructure_error_reaches_the_caller,
    scenario_budget_stop_event,
    scenario_one_recorded_event_per_call,
]
"""Scenarios proving the adapters share one core (tool identity, the refusal rule, events); part of the contract."""


CONTRACT_SCENARIOS: list[Callable[[AdapterHarness], None]] = [
    scenario_budget_stop,
    scenario_refusal_reaches_model,
    scenario_custody,
    scenario_idempotent_tool,
    scenario_concurrent_runs_isolated,
    *CORE_SCENARIOS,
]


# -- metering: calls no layer could meter are still charged (issue 15) ----------------------------------------------
class StreamingHarness(AdapterHarness, Protocol):
    def run_streamed_without_usage(self, turns: list[Turn], tools: list[ToolSpec], budget: BudgetSpec) -> RunOutcome:
        """Run as :meth:`AdapterHarness.run` does, streaming every model call, with a model (or provider) that
        reports no token usage at all (an OpenAI-compatible gateway, ``include_usage=False``): the turns' token
        counts are not reported."""
        ...


def scenario_stream_without_usage_is_charged(h: StreamingHarness) -> None:
    """A streamed run whose model reports no usage is charged an estimate (warned about), and a usd_limit stops it
    after the first model call."""
    import warnings

    from actguard import ActGuardWarning
    from actguard.budget import metering

    metering._warned.clear()  # warned once per process: forget earlier scenarios' warnings
    turns = [Turn(tool="search", args={"query": f"q{i}"}) for i in range(3)]
    turns.append(Turn(text="done"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = h.run_streamed_without_usage(
            turns, [ToolSpec(_noop_tool_named("search"))], BudgetSpec(user_id="alice", usd_limit=1e-6)
        )
    err = budget_error(out.error)
    assert err is not None and err.limit_type == "usd", f"{h.name}: expected a usd stop, got {out.error!r}"
    assert out.model_calls == 1, f"{h.name}: the model was called {out.model_calls} times"
    assert out.tokens_used > 0 and out.usd_used > 0, f"{h.name}: charged {out.tokens_used} tokens, ${out.usd_used}"
    warned = [w for w in caught if issubclass(w.category, ActGuardWarning) and "no token usage" in str(w.message)]
    assert warned, f"{h.name}: no ActGuardWarning about the unmetered call"


USAGE_SCENARIOS: list[Callable[[Any], None]] = [scenario_stream_without_usage_is_charged]


# -- a shared budget whose store stalls during an async hook ------------------------------------------------------
STALL_TIMEOUT = 0.25  # the RedisStore's socket timeout: a store call on the frozen server fails closed after it


def _core_helper(name: str) -> ModuleType:
    """A helper module of tests/core/stores (``redis_server``, ``loop_ticker``), loaded by path like this module."""
    import importlib.util
    import sys
    from pathlib import Path

    key = f"actguard_test_{name}"
    if key not in sys.modules:
        path = Path(__file__).parents[1] / "core" / "stores" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(key, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


Ticker = _core_helper("loop_ticker").Ticker  # counts the loop's turns while a store call is under way


class StalledRedis:
    """A RedisStore on a redis-server of the test's own, frozen (SIGSTOP) at the first store call once
    :meth:`arm` ed, until its client gave up (StoreUnavailable); :attr:`busy` is set while a store call is under way,
    :attr:`calls_on_loop` counts the store calls made on the event loop's thread. Make it inside the async test.

    Skips without redis-server or redis-py (fails instead with ACTGUARD_REQUIRE_REDIS=1).
    """

    def __init__(self) -> None:
        module = _core_helper("redis_server")
        reason = module.missing_reason()
        if reason is not None:
            if os.environ.get(module.REQUIRE_ENV) == "1":
                pytest.fail(f"{module.REQUIRE_ENV}=1 but {reason}")
            pytest.skip(reason)
        self.server = module.RedisServer().start()
        self.store = actguard.RedisStore(self.server.url, prefix="stall", timeout=STALL_TIMEOUT)
        self.store.spend_get("warm")  # connected before any stall
        self.busy = threading.Event()
        self.loop_thread = threading.get_ident()  # made in the async test: the event loop's thread
        self.calls_on_loop = 0  # store calls made on that thread (each blocks the event loop while it waits)
        self.stalls = 0
        self._armed = False
        self._timers: list[threading.Timer] = []
        for name in [n for n in dir(self.store) if n.startswith("spend_")]:
            setattr(self.store, name, self._watched(getattr(self.store, name)))

    def _watched(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def watched(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() == self.loop_thread:
                self.calls_on_loop += 1
            if self._armed:
                self._armed = False
                self.stalls += 1
                self.server.pause()
                timer = threading.Timer(STALL_TIMEOUT * 1.5, self.server.resume)  # after the client gave up
                self._timers.append(timer)
                timer.start()
            self.busy.set()
            try:
                return call(*args, **kwargs)
            finally:
                self.busy.clear()

        return watched

    def arm(self) -> None:
        """Freeze the server at the next store call."""
        self._armed = True

    def close(self) -> None:
        for timer in self._timers:
            timer.join()
        self.store.close()
        self.server.stop()


# -- a shared per-run budget on async hooks -------------------------------------------------------------------------
# An adapter's async test gives ``script()`` (a scripted model, counting its calls in ``.calls``: one tool call of 50 +
# 10 tokens, then an answer) and ``run(model, user_id, **budget_options)`` (one run of that model with a per-run
# budget of token_limit=10_000 and these options; returns the run's budget).
ScriptFactory = Callable[[], Any]
SharedRun = Callable[..., Awaitable["actguard.BudgetGuard | None"]]


async def stalled_store_fails_the_run_closed_off_the_loop(
    stall: StalledRedis, script: ScriptFactory, run: SharedRun
) -> None:
    """The store freezes at the check before the first model call: the run fails closed (StoreUnavailable reaches
    the caller, the model is never called) and the event loop kept serving another task meanwhile."""
    model = script()
    ticker = Ticker(stall.busy)
    stall.arm()
    with pytest.raises(Exception) as info:
        await run(model, "alice", shared=True, store=stall.store)
    ticks = await ticker.stop()
    assert store_unavailable(info.value) is not None, info.value
    assert stall.stalls == 1 and model.calls == 0  # refused before the call: fail closed
    assert ticks > 0  # another task kept running while the check waited on the frozen store


async def shared_run_never_waits_on_the_loop(stall: StalledRedis, script: ScriptFactory, run: SharedRun) -> None:
    """A whole run on a shared budget makes no store call on the event loop's thread, and is checked and recorded
    as a per-process budget is."""
    budget = await run(script(), "bob", shared=True, store=stall.store)
    expected = await run(script(), "bob")
    assert budget is not None and expected is not None
    assert budget.tokens_used == expected.tokens_used > 0
    assert stall.calls_on_loop == 0
