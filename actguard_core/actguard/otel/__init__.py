"""OpenTelemetry for actguard: guard decisions and LLM spend as spans, span attributes and metrics.

``pip install "actguard[otel]"`` (it adds ``opentelemetry-api`` only; the SDK and exporters are yours to choose), then
call :func:`instrument` once. Nothing here imports ``opentelemetry`` before that call, and with no instrumentation
actguard pays nothing for it: the hook is a subscriber of :mod:`actguard.reporting` that only exists while
instrumented.

What it writes
--------------
- Each **refusing decision** (outcome ``blocked``, or ``intervened``: a timeout cut the call short, an idempotent
  duplicate was answered from the first call) is a **span of its own**, named ``run_guardrail <guard kind>``, a
  child of the current span: under the framework's tool or agent span when its OpenTelemetry instrumentation is on,
  a root span otherwise. A span, not a span event, so a refusal is visible even with no span around it, and so it has
  the shape the guardrail proposal gives in-process guardrails. Its duration is ~0: it marks the decision.
- Each **metered LLM call** adds its usage and cost to the **current span** (nothing when no span is recording).
  Several calls under one span (an agent span, say) add up: the attributes carry the totals and
  ``actguard.llm_calls`` the number of calls; ``gen_ai.request.model`` / ``gen_ai.provider.name`` are the last call's.
- **Metrics**: the GenAI token usage histogram, a spend counter and a guard decision counter (below). Allowed
  decisions are counted too; the decision counter is an asynchronous counter (actguard keeps the totals, the reader
  collects them), which keeps a decision's cost well under a microsecond.

Names (one table). "GenAI": the GenAI semantic conventions (every GenAI name is still at development stability;
these are the established ones most GenAI instrumentations write). "general": the general attribute registry.
"proposal #N": an open pull request in open-telemetry/semantic-conventions-genai (#443 cost, #427 guardrails), so
those names may still change. "actguard": our own, where none of these has a name.

============================================  =============  ========================================================
Name                                          Source         Where / what
============================================  =============  ========================================================
``gen_ai.usage.input_tokens``                 GenAI          LLM call, current span: prompt tokens (cached included)
``gen_ai.usage.output_tokens``                GenAI          LLM call, current span: generated tokens
``gen_ai.usage.cache_read.input_tokens``      GenAI          LLM call, current span, when nonzero
``gen_ai.usage.cache_creation.input_tokens``  GenAI          LLM call, current span, when nonzero
``gen_ai.usage.reasoning.output_tokens``      GenAI          LLM call, current span, when nonzero
``gen_ai.request.model``                      GenAI          LLM call, span and metrics: the model the meter saw
``gen_ai.provider.name``                      GenAI          LLM call, span and metrics: openai, anthropic, gcp.gen_ai
``gen_ai.usage.cost.amount``                  proposal #443  LLM call, current span: cost (actguard's price table)
``gen_ai.usage.cost.currency``                proposal #443  LLM call, current span: always ``USD``
``gen_ai.usage.cost.source``                  proposal #443  LLM call, current span: always ``local`` (priced here)
``actguard.llm_calls``                        actguard       LLM call, current span: calls summed into the above
``run_guardrail <kind>`` (span name)          proposal #427  refusal: one INTERNAL span per refusing decision
``gen_ai.security.guardrail.name``            proposal #427  refusal span: the guard kind (as ``actguard.guard.kind``)
``gen_ai.security.target.type``               proposal #427  refusal span: ``tool_call``, or ``llm_input`` for budgets
``gen_ai.security.action.type``               proposal #427  refusal span: ``block`` (blocked), ``modify`` (intervened)
``gen_ai.tool.name``                          GenAI          refusal span: the guarded tool, when there is one
``actguard.guard.kind``                       actguard       refusal span and decision counter: rate_limit,
                                                             circuit_breaker, timeout, max_attempts, idempotent,
                                                             refusal, prove, enforce or budget
``actguard.guard.decision``                   actguard       refusal span: the decision, ``blocked`` / ``intervened``
``actguard.guard.reason``                     actguard       refusal span: why, e.g. ``MISSING_FACT``
``actguard.event``                            actguard       refusal span: the event, e.g. ``budget.budget_exceeded``
``actguard.run.id``                           actguard       refusal span: the run
``user.id``                                   general        refusal span and spend counter: the run's user
``gen_ai.client.token.usage``                 GenAI          histogram, ``{token}``, by ``gen_ai.token.type``
                                                             input/output, ``gen_ai.operation.name``, model, provider;
                                                             the conventions' bucket boundaries
``actguard.spend``                            actguard       counter, ``USD``, by model, provider and ``user.id``
``actguard.guard.decisions``                  actguard       counter, ``{decision}``, by ``actguard.guard.kind`` and
                                                             ``actguard.guard.outcome`` (allowed, blocked, ...)
============================================  =============  ========================================================

``gen_ai.operation.name`` on the histogram is ``generate_content`` for Google models and ``chat`` otherwise.
``user.id`` on the spend counter makes one series per user: drop it with a View if you have many users.
The names live in ``actguard/otel/_names.py``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from actguard import reporting
from actguard.exceptions import ConfigError

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from actguard.otel._recorder import Recorder

__all__ = ["instrument", "is_instrumented", "uninstrument"]

_lock = threading.Lock()
_active: Recorder | None = None


def instrument(tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None) -> None:
    """Send actguard's guard decisions and LLM spend to OpenTelemetry.

    Calling it again replaces the earlier instrumentation (never doubles it).

    Args:
        tracer_provider: where the spans go; None uses the global one (``opentelemetry.trace.set_tracer_provider``,
            which may also be set after this call).
        meter_provider: where the metrics go; None uses the global one, likewise.

    Raises:
        ImportError: ``opentelemetry-api`` is not installed (``pip install "actguard[otel]"``).
        ConfigError: a provider without ``get_tracer`` / ``get_meter``.
    """
    global _active
    try:
        from actguard.otel._recorder import make_recorder
    except ImportError as exc:
        raise ImportError(
            'actguard.otel needs the OpenTelemetry API: pip install "actguard[otel]" (or opentelemetry-api>=1.30)'
        ) from exc
    if tracer_provider is not None and not callable(getattr(tracer_provider, "get_tracer", None)):
        raise ConfigError(
            f"instrument(tracer_provider=...) must be an OpenTelemetry TracerProvider or None, got {tracer_provider!r}"
        )
    if meter_provider is not None and not callable(getattr(meter_provider, "get_meter", None)):
        raise ConfigError(
            f"instrument(meter_provider=...) must be an OpenTelemetry MeterProvider or None, got {meter_provider!r}"
        )
    with _lock:
        recorder = make_recorder(tracer_provider, meter_provider)
        if _active is not None:
            reporting.unsubscribe(_active)
        reporting.subscribe(recorder)
        _active = recorder


def uninstrument() -> None:
    """Stop sending to OpenTelemetry; does nothing when not instrumented.

    Metrics already counted stay with their meter provider (a cumulative counter keeps its last total).
    """
    global _active
    with _lock:
        if _active is not None:
            reporting.unsubscribe(_active)
            _active = None


def is_instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    return _active is not None
