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
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

import pytest

import actguard
from actguard import BudgetExceededError

__all__ = [
    "require",
    "CONTRACT_SCENARIOS",
    "MODEL",
    "AdapterHarness",
    "BudgetSpec",
    "RunOutcome",
    "ToolSpec",
    "Turn",
    "USAGE_SCENARIOS",
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
    """A plain function and the guards ``guard_tool`` applies to it (``actguard.tool`` kwargs plus prove/enforce)."""

    fn: Callable[..., Any]
    guards: dict[str, Any] = field(default_factory=dict)


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


CONTRACT_SCENARIOS: list[Callable[[AdapterHarness], None]] = [
    scenario_budget_stop,
    scenario_refusal_reaches_model,
    scenario_custody,
    scenario_idempotent_tool,
    scenario_concurrent_runs_isolated,
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
