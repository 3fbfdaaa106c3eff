"""What OpenTelemetry instrumentation (actguard.otel) adds to a guard decision, against the same decision with it off.

Run: python benchmarks/otel.py   (needs opentelemetry-sdk: e.g. .nox/otel-version-latest/bin/python)

Measured in one run, per call, best of several rounds; the on and off rounds alternate so both see the same machine:

- a ``rate_limit``-guarded no-op tool that is allowed (the common case: one decision, one ``emit``), on the default
  MemoryStore, with instrumentation off (the peer) and on (the SDK's TracerProvider with an in-memory exporter and a
  MeterProvider with an in-memory reader, as a user's would be minus the network). An allowed decision makes no
  span; it is counted in ``actguard.guard.decisions``.
- ``emit()`` itself with nothing listening, before ``instrument()`` and after ``uninstrument()``, against a bare
  no-op function of the same signature: "off costs nothing measurable".
- for reference: one refused call (a ``run_guardrail`` span is made and exported) and one metered LLM call
  (``BudgetGuard.record``: two histogram points, a counter add, attributes on the current span).
Target: an allowed decision costs <= 2 us more with instrumentation on; off, emit() costs what it did.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import actguard
import actguard.otel
from actguard import BudgetGuard, LLMUsage, RateLimitExceeded
from actguard.reporting import emit

N = 20_000  # calls per round
ROUNDS = 15
TARGET_US = 2.0


def bare(
    category: str,
    name: str,
    outcome: str,
    *,
    tool: str | None = None,
    run_id: str | None = None,
    user_id: str | None = None,
    payload: Any = None,
) -> None:
    return None


def one_round(fn: Callable[[], Any], n: int = N) -> float:
    """Mean microseconds per call over one round (the loop included)."""
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - start) / n / 1000


def main() -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])

    @actguard.rate_limit(max_calls=10**12, period=60)
    def send_email(to: str) -> str:
        return to

    def allowed() -> None:
        send_email("bob")

    def emit_call() -> None:
        emit("tool_guard", "rate_limit", "allowed", tool="send_email")

    def bare_call() -> None:
        bare("tool_guard", "rate_limit", "allowed", tool="send_email")

    rounds: dict[str, list[float]] = {
        "bare function, emit's signature": [],
        "emit(), never instrumented": [],
        "emit(), after uninstrument()": [],
        "allowed decision, off (peer)": [],
        "allowed decision, on": [],
    }
    for index in range(ROUNDS):
        rounds["bare function, emit's signature"].append(one_round(bare_call))
        if index == 0:
            rounds["emit(), never instrumented"].extend(one_round(emit_call) for _ in range(ROUNDS))
        rounds["allowed decision, off (peer)"].append(one_round(allowed))
        actguard.otel.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        rounds["allowed decision, on"].append(one_round(allowed))
        actguard.otel.uninstrument()
        rounds["emit(), after uninstrument()"].append(one_round(emit_call))
    results = {label: min(values) for label, values in rounds.items()}

    # References: a refusal (one span exported) and a metered LLM call, both with instrumentation on.
    actguard.otel.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)

    @actguard.rate_limit(max_calls=1, period=3600)
    def refused() -> None:
        return None

    refused()

    def refusal() -> None:
        with contextlib.suppress(RateLimitExceeded):
            refused()

    guard = BudgetGuard()
    usage = LLMUsage(model="gpt-4o", provider="openai", input_tokens=1000, output_tokens=200)
    tracer = tracer_provider.get_tracer("bench")
    with tracer.start_as_current_span("invoke_agent"):
        results["refused call, on (one span)"] = min(one_round(refusal, 2_000) for _ in range(5))
        spans.clear()
        results["metered LLM call, on"] = min(one_round(lambda: guard.record(usage), 2_000) for _ in range(5))
    actguard.otel.uninstrument()
    results["metered LLM call, off"] = min(one_round(lambda: guard.record(usage), 2_000) for _ in range(5))
    decisions = sum(
        point.value
        for resource in reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "actguard.guard.decisions"
        for point in metric.data.data_points
    )

    width = max(len(label) for label in results)
    print(f"per call, best of {ROUNDS} rounds of {N:,} calls (references: best of 5 rounds of 2,000)")
    for label, us in results.items():
        print(f"  {label:<{width}}  {us:8.3f} us")
    off, on = results["allowed decision, off (peer)"], results["allowed decision, on"]
    added = on - off
    verdict = "met" if added <= TARGET_US else "MISSED"
    print(f"\ndecisions counted by actguard.guard.decisions: {decisions:,}")
    print(
        f"instrumentation on adds {added:.3f} us per allowed decision ({on / off:.2f}x off); "
        f"target <= {TARGET_US} us: {verdict}"
    )
    bare_us = results["bare function, emit's signature"]
    print(
        f"off: emit() costs {results['emit(), never instrumented']:.3f} us never instrumented, "
        f"{results['emit(), after uninstrument()']:.3f} us after uninstrument(), {bare_us:.3f} us a bare function"
    )


if __name__ == "__main__":
    main()
