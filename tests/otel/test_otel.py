"""actguard.otel: refusals as spans, LLM usage and cost on the current span, metrics, and nothing when off."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import openai
import pytest
from budget_fakes import LLMServer, chat_completion
from opentelemetry.trace import SpanKind
from otel_harness import Otel, make_otel

import actguard
import actguard.otel
from actguard import BudgetExceededError, BudgetGuard, LLMUsage, RateLimitExceeded
from actguard.reporting import emit
from actguard.stores import MemoryStore
from actguard.testing import FakeClock

GPT4O_IN, GPT4O_OUT = 2.5e-6, 10e-6  # USD per token
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
HI = [{"role": "user", "content": "Tell me a story."}]


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


# -- off ----------------------------------------------------------------------------------------------------------
def test_actguard_and_its_guards_never_import_opentelemetry_until_instrument() -> None:
    result = run_python(
        """
        import sys
        import actguard, actguard.otel
        from actguard import BudgetGuard, LLMUsage, RunContext, rate_limit, tool

        @rate_limit(max_calls=1, period=60)
        def send(to: str) -> str:
            return to

        @tool(max_attempts=3, timeout=5)
        def lookup(q: str) -> str:
            return q

        with RunContext(user_id="alice"), BudgetGuard(usd_limit=1.0) as guard:
            send("bob")
            lookup("x")
            guard.record(LLMUsage(model="gpt-4o", provider="openai", input_tokens=10, output_tokens=5))
            try:
                send("bob")
            except actguard.RateLimitExceeded:
                pass
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
        assert not loaded, loaded
        assert not actguard.otel.is_instrumented()
        actguard.otel.instrument()
        assert "opentelemetry.trace" in sys.modules
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_without_the_extra_instrument_names_it() -> None:
    result = run_python(
        """
        import sys
        sys.modules["opentelemetry"] = None  # as if opentelemetry-api were not installed
        import actguard.otel
        try:
            actguard.otel.instrument()
        except ImportError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert 'pip install "actguard[otel]"' in result.stdout


def test_bad_providers_are_refused_by_name() -> None:
    with pytest.raises(actguard.ConfigError, match=r"instrument\(tracer_provider=\.\.\.\)"):
        actguard.otel.instrument(tracer_provider="console")  # type: ignore[arg-type]
    with pytest.raises(actguard.ConfigError, match=r"instrument\(meter_provider=\.\.\.\)"):
        actguard.otel.instrument(meter_provider=object())  # type: ignore[arg-type]
    assert not actguard.otel.is_instrumented()


def test_uninstrument_stops_everything_and_both_calls_are_idempotent() -> None:
    o = make_otel()
    actguard.otel.uninstrument()  # not instrumented: nothing to do
    actguard.otel.instrument(tracer_provider=o.tracer_provider, meter_provider=o.meter_provider)
    actguard.otel.instrument(tracer_provider=o.tracer_provider, meter_provider=o.meter_provider)  # replaces, no double
    emit("tool_guard", "rate_limit", "blocked", tool="send_email", payload={"limit": 1, "period": 60})
    assert len(o.finished("run_guardrail")) == 1
    actguard.otel.uninstrument()
    actguard.otel.uninstrument()
    assert not actguard.otel.is_instrumented()
    emit("tool_guard", "rate_limit", "blocked", tool="send_email")
    assert len(o.finished("run_guardrail")) == 1
    assert actguard.reporting._sinks == ()  # no listener left: emit() is back to returning at once
    [point] = o.points("actguard.guard.decisions")
    assert point.value == 1


def test_instrument_without_providers_uses_the_global_ones() -> None:
    result = run_python(
        """
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        import actguard.otel
        from actguard.reporting import emit

        actguard.otel.instrument()  # before the global providers are set: they are looked up lazily
        spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(spans))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        emit("tool_guard", "max_attempts", "blocked", tool="t", payload={"limit": 2, "attempts": 3})
        names = [s.name for s in spans.get_finished_spans()]
        metric_names = [m.name for r in reader.get_metrics_data().resource_metrics
                        for s in r.scope_metrics for m in s.metrics]
        print(names, metric_names)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "['run_guardrail max_attempts'] ['actguard.guard.decisions']" in result.stdout


# -- refusals -----------------------------------------------------------------------------------------------------
def test_a_refusal_is_a_span_under_the_current_one_and_allowed_calls_make_none(otel: Otel) -> None:
    # A fake clock: the reason states the retry time, which a real clock under load would shave.
    @actguard.rate_limit(max_calls=2, period=60, store=MemoryStore(clock=FakeClock()))
    def send_email(to: str) -> str:
        return to

    tracer = otel.tracer_provider.get_tracer("app")
    with actguard.RunContext(run_id="req-1", user_id="alice"), tracer.start_as_current_span("execute_tool") as parent:
        send_email("bob")
        send_email("bob")
        with pytest.raises(RateLimitExceeded):
            send_email("bob")

    [span] = otel.finished("run_guardrail")
    assert span.name == "run_guardrail rate_limit"
    assert span.kind is SpanKind.INTERNAL
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert span.context.trace_id == parent.get_span_context().trace_id
    assert dict(span.attributes or {}) == {
        "gen_ai.security.guardrail.name": "rate_limit",
        "gen_ai.security.target.type": "tool_call",
        "gen_ai.security.action.type": "block",
        "gen_ai.tool.name": "send_email",
        "actguard.guard.kind": "rate_limit",
        "actguard.guard.decision": "blocked",
        "actguard.guard.reason": "2 calls per 60s reached; retry after 60s",
        "actguard.event": "tool_guard.rate_limit",
        "actguard.run.id": "req-1",
        "user.id": "alice",
    }


def test_custody_and_idempotent_refusals_carry_their_reasons(otel: Otel) -> None:
    @actguard.prove(kind="order_id", extract="id")
    def list_orders() -> list[dict[str, str]]:
        return [{"id": "o-1"}]

    @actguard.enforce([actguard.RequireFact("order_id", kind="order_id")])
    def refund(order_id: str) -> str:
        return order_id

    @actguard.idempotent(ttl_s=60)
    def charge(idempotency_key: str) -> str:
        return "charged"

    with actguard.RunContext(user_id="bob"), actguard.session("s-1", {"user_id": "bob"}):
        list_orders()
        refund("o-1")
        with pytest.raises(actguard.GuardError):
            refund("o-2")
        charge("k-1")
        assert charge("k-1") == "charged"  # a duplicate, answered from the first call

    by_kind = {span.attributes["actguard.guard.kind"]: span.attributes for span in otel.finished("run_guardrail")}
    assert set(by_kind) == {"enforce", "idempotent"}
    assert by_kind["enforce"]["actguard.guard.reason"] == "MISSING_FACT"
    assert by_kind["enforce"]["gen_ai.tool.name"] == "refund"
    assert by_kind["idempotent"]["actguard.guard.decision"] == "intervened"
    assert by_kind["idempotent"]["gen_ai.security.action.type"] == "modify"
    assert by_kind["idempotent"]["actguard.guard.reason"] == "duplicate"


def test_a_budget_stop_is_a_refusal_of_the_next_llm_input(otel: Otel) -> None:
    with BudgetGuard(usd_limit=0.001, user_id="carol") as guard:
        guard.record(LLMUsage(model="gpt-4o", provider="openai", input_tokens=1000, output_tokens=0))
        with pytest.raises(BudgetExceededError):
            guard.check()
    [span] = otel.finished("run_guardrail")
    assert span.name == "run_guardrail budget"
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.security.target.type"] == "llm_input"
    assert attributes["actguard.event"] == "budget.budget_exceeded"
    assert attributes["actguard.guard.reason"] == "usd limit 0.001 reached (used 0.0025)"
    assert attributes["user.id"] == "carol"
    assert "gen_ai.tool.name" not in attributes


# -- LLM calls ----------------------------------------------------------------------------------------------------
def test_metered_calls_put_usage_and_cost_on_the_current_span(otel: Otel, llm: LLMServer) -> None:
    llm.queue(chat_completion(id="c-1", prompt_tokens=1000, completion_tokens=200))
    llm.queue(chat_completion(id="c-2", prompt_tokens=500, completion_tokens=100, reasoning_tokens=40))  # twice
    tracer = otel.tracer_provider.get_tracer("app")
    client = openai.OpenAI()
    with BudgetGuard(usd_limit=1.0, user_id="alice") as guard:
        with tracer.start_as_current_span("chat gpt-4o"):
            client.chat.completions.create(model="gpt-4o", messages=HI)
        with tracer.start_as_current_span("invoke_agent"):
            client.chat.completions.create(model="gpt-4o", messages=HI)
            client.chat.completions.create(model="gpt-4o", messages=HI)  # answered by the same reply id again
    assert guard.usd_used == pytest.approx(1500 * GPT4O_IN + 300 * GPT4O_OUT)

    first, agent = (dict(span.attributes or {}) for span in otel.finished())
    assert first == {
        "gen_ai.request.model": "gpt-4o-2024-08-06",
        "gen_ai.provider.name": "openai",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 200,
        "gen_ai.usage.cost.amount": pytest.approx(1000 * GPT4O_IN + 200 * GPT4O_OUT),
        "gen_ai.usage.cost.currency": "USD",
        "gen_ai.usage.cost.source": "local",
        "actguard.llm_calls": 1,
    }
    assert agent["gen_ai.usage.input_tokens"] == 500
    assert agent["gen_ai.usage.output_tokens"] == 100
    assert agent["gen_ai.usage.reasoning.output_tokens"] == 40
    assert agent["gen_ai.usage.cost.amount"] == pytest.approx(500 * GPT4O_IN + 100 * GPT4O_OUT)
    assert agent["actguard.llm_calls"] == 1  # a call counted once by the budget is reported once


def test_several_calls_under_one_span_add_up(otel: Otel) -> None:
    tracer = otel.tracer_provider.get_tracer("app")
    with BudgetGuard() as guard, tracer.start_as_current_span("invoke_agent"):
        for n in range(3):
            guard.record(
                LLMUsage(model="gpt-4o", provider="openai", input_tokens=100, output_tokens=10), call_id=f"{n}"
            )
    [span] = otel.finished()
    attributes = dict(span.attributes or {})
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (300, 30)
    assert attributes["actguard.llm_calls"] == 3
    assert attributes["gen_ai.usage.cost.amount"] == pytest.approx(guard.usd_used)


def test_a_call_two_budgets_recorded_is_reported_once(otel: Otel) -> None:
    usage = LLMUsage(model="gpt-4o", provider="openai", input_tokens=100, output_tokens=10)
    tracer = otel.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("chat"):
        run_budget, caller_budget = BudgetGuard(), BudgetGuard()  # e.g. an adapter's budget for the run, and yours
        run_budget.record(usage, call_id="resp-1")
        caller_budget.record(usage, call_id="resp-1")
        assert run_budget.usd_used == caller_budget.usd_used > 0  # each budget is charged
    [span] = otel.finished()
    assert span.attributes is not None and span.attributes["actguard.llm_calls"] == 1
    [spend] = otel.points("actguard.spend")
    assert spend.value == pytest.approx(run_budget.usd_used)


def test_metrics_token_usage_spend_and_decisions(otel: Otel) -> None:
    @actguard.rate_limit(max_calls=1, period=60)
    def send(to: str) -> str:
        return to

    with actguard.RunContext(user_id="alice"), BudgetGuard() as guard:  # no span anywhere: metrics only
        guard.record(LLMUsage(model="gpt-4o", provider="openai", input_tokens=1000, output_tokens=200), call_id="a")
        guard.record(LLMUsage(model="gemini-2.0-flash", provider="google", input_tokens=10, output_tokens=5))
        send("x")
        for _ in range(2):
            with pytest.raises(RateLimitExceeded):
                send("x")
    assert otel.finished("run_guardrail") and not otel.finished("chat")

    histogram = {
        (p.attributes["gen_ai.request.model"], p.attributes["gen_ai.token.type"]): p
        for p in otel.points("gen_ai.client.token.usage")
    }
    assert {key: point.sum for key, point in histogram.items()} == {
        ("gpt-4o", "input"): 1000,
        ("gpt-4o", "output"): 200,
        ("gemini-2.0-flash", "input"): 10,
        ("gemini-2.0-flash", "output"): 5,
    }
    gemini_input = histogram[("gemini-2.0-flash", "input")]
    assert list(gemini_input.explicit_bounds) == TOKEN_BUCKETS
    assert dict(gemini_input.attributes) == {
        "gen_ai.request.model": "gemini-2.0-flash",
        "gen_ai.provider.name": "gcp.gen_ai",
        "gen_ai.operation.name": "generate_content",
        "gen_ai.token.type": "input",
    }
    assert histogram[("gpt-4o", "input")].attributes["gen_ai.operation.name"] == "chat"

    spend = {p.attributes["gen_ai.request.model"]: p for p in otel.points("actguard.spend")}
    assert spend["gpt-4o"].value == pytest.approx(1000 * GPT4O_IN + 200 * GPT4O_OUT)
    assert dict(spend["gpt-4o"].attributes) == {
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.provider.name": "openai",
        "user.id": "alice",
    }
    assert sum(p.value for p in spend.values()) == pytest.approx(guard.usd_used)

    decisions = {
        (p.attributes["actguard.guard.kind"], p.attributes["actguard.guard.outcome"]): p.value
        for p in otel.points("actguard.guard.decisions")
    }
    assert decisions == {("rate_limit", "allowed"): 1, ("rate_limit", "blocked"): 2}


def test_decisions_from_many_threads_are_counted_exactly(otel: Otel) -> None:
    @actguard.rate_limit(max_calls=10_000, period=60)
    def ping() -> None:
        return None

    def worker() -> None:
        for _ in range(500):
            ping()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    [point] = otel.points("actguard.guard.decisions")
    assert point.value == 4000


def test_a_failing_span_never_reaches_the_agent(otel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    from actguard.otel import _active

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("exporter on fire")

    assert _active is not None
    monkeypatch.setattr(_active.tracer, "start_span", broken)

    @actguard.rate_limit(max_calls=1, period=60)
    def send() -> str:
        return "sent"

    assert send() == "sent"
    with pytest.raises(RateLimitExceeded):  # the guard's own refusal, not the tracer's error
        send()


# -- the README's example -----------------------------------------------------------------------------------------
def test_the_readme_example_runs_as_written() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## OpenTelemetry\n", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    result = run_python(block)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "run_guardrail rate_limit | 1 calls per 60s reached; retry after 60s",
        "1000 0.0045",
    ]
