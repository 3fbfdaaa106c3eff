"""The subscriber that turns actguard's decisions into OpenTelemetry spans, span attributes and metrics.

Imported only by :func:`actguard.otel.instrument`: this is the one module that imports ``opentelemetry``.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation
from opentelemetry.trace import Span, SpanKind, Tracer, TracerProvider

from actguard.context import _current_run
from actguard.otel import _names as names
from actguard.otel._reason import reason_of

__all__ = ["Recorder", "make_recorder"]

SCOPE = "actguard"
# Decisions that refuse: one span each. "blocked": refused before the tool or model ran; "intervened": the guard
# stopped the call (timeout) or answered it itself (a duplicate of an idempotent call).
_ACTIONS = {"blocked": "block", "intervened": "modify"}
_MAX_DECISION_KEYS = 1024  # (kind, outcome) pairs counted; emit() is public, so names are not a closed set
_OTHER = ("other", "other")
_MAX_SPANS = 1024  # spans whose LLM usage is being summed (oldest forgotten first)
_MAX_CALL_IDS = 4096  # response ids of recent LLM calls, so a call two guards recorded is reported once


class _Instruments:
    """One meter provider's instruments, made once per provider (a meter keeps the first instrument of a name)."""

    def __init__(self, meter: Meter) -> None:
        self.token_usage = meter.create_histogram(
            names.TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used, per metered LLM call.",
            explicit_bucket_boundaries_advisory=names.TOKEN_USAGE_BUCKETS,
        )
        self.spend = meter.create_counter(
            names.SPEND, unit="USD", description="What metered LLM calls cost, in US dollars, by model and user."
        )
        # A guard decision is on the hot path of every tool call: count it in a dict (a fraction of a microsecond)
        # and let the reader collect the totals, instead of a synchronous counter's add (several microseconds).
        self._lock = threading.Lock()
        self._decisions: dict[tuple[str, str], int] = {}
        meter.create_observable_counter(
            names.DECISIONS,
            callbacks=[self._observe],
            unit="{decision}",
            description="Guard decisions, by guard kind and outcome.",
        )

    def count(self, kind: str, outcome: str) -> None:
        key = (kind, outcome)
        decisions = self._decisions
        with self._lock:
            n = decisions.get(key)
            if n is None and len(decisions) >= _MAX_DECISION_KEYS:
                key = _OTHER
                n = decisions.get(key)
            decisions[key] = 1 if n is None else n + 1

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            totals = list(self._decisions.items())
        return [Observation(n, {names.GUARD_KIND: kind, names.GUARD_OUTCOME: outcome}) for (kind, outcome), n in totals]


_instruments: weakref.WeakKeyDictionary[Any, _Instruments] = weakref.WeakKeyDictionary()
_instruments_lock = threading.Lock()


def _instruments_of(meter_provider: MeterProvider) -> _Instruments:
    with _instruments_lock:
        found = _instruments.get(meter_provider)
        if found is None:
            found = _instruments[meter_provider] = _Instruments(meter_provider.get_meter(SCOPE, _version()))
        return found


def _version() -> str:
    from actguard import __version__

    return __version__


class Recorder:
    """A :mod:`actguard.reporting` subscriber writing to one tracer and one meter provider's instruments."""

    def __init__(self, tracer: Tracer, instruments: _Instruments) -> None:
        self.tracer = tracer
        self.instruments = instruments
        self._lock = threading.Lock()
        self._spans: OrderedDict[tuple[int, int], list[float]] = OrderedDict()
        self._call_ids: OrderedDict[str, None] = OrderedDict()

    def __call__(
        self,
        category: str,
        name: str,
        outcome: str,
        tool: str | None,
        run_id: str | None,
        user_id: str | None,
        payload: Mapping[str, Any] | None,
    ) -> None:
        if category == "tool_guard" or category == "custody":
            kind = name
        elif category == "budget":
            if outcome == "recorded":
                if payload:
                    self.llm_call(user_id, payload)
                return
            kind = "budget"
        else:  # run starts and ends, store outages: not decisions
            return
        self.instruments.count(kind, outcome)
        action = _ACTIONS.get(outcome)
        if action is not None:
            self.refusal(category, name, kind, outcome, action, tool, run_id, user_id, payload)

    def refusal(
        self,
        category: str,
        name: str,
        kind: str,
        outcome: str,
        action: str,
        tool: str | None,
        run_id: str | None,
        user_id: str | None,
        payload: Mapping[str, Any] | None,
    ) -> None:
        """One short span, a child of the current one, for a refusing decision."""
        attributes: dict[str, str] = {
            names.GUARDRAIL_NAME: kind,
            names.GUARDRAIL_TARGET_TYPE: "llm_input" if category == "budget" else "tool_call",
            names.GUARDRAIL_ACTION_TYPE: action,
            names.GUARD_KIND: kind,
            names.GUARD_DECISION: outcome,
            names.GUARD_REASON: reason_of(name, outcome, payload),
            names.EVENT: f"{category}.{name}",
        }
        if tool is not None:
            attributes[names.TOOL_NAME] = tool
        if run_id is None or user_id is None:
            run = _current_run.get()
            if run is not None:
                run_id = run.run_id if run_id is None else run_id
                user_id = run.user_id if user_id is None else user_id
        if run_id is not None:
            attributes[names.RUN_ID] = run_id
        if user_id is not None:
            attributes[names.USER_ID] = user_id
        span = self.tracer.start_span(
            f"{names.GUARDRAIL_SPAN_PREFIX} {kind}", kind=SpanKind.INTERNAL, attributes=attributes
        )
        span.end()

    def llm_call(self, user_id: str | None, payload: Mapping[str, Any]) -> None:
        """Metrics for one metered call, and its usage and cost added to the current span."""
        call_id = payload.get("call_id")
        if call_id is not None:
            # Two guards that are not nested can both record one call (an adapter's budget for the run and the
            # caller's BudgetGuard); each budget is right to charge it, but it is one call and one cost.
            with self._lock:
                if call_id in self._call_ids:
                    return
                self._call_ids[call_id] = None
                if len(self._call_ids) > _MAX_CALL_IDS:
                    self._call_ids.popitem(last=False)
        model = str(payload.get("model"))
        provider = payload.get("provider")
        input_tokens = int(payload.get("input_tokens") or 0)
        output_tokens = int(payload.get("output_tokens") or 0)
        usd = float(payload.get("usd") or 0.0)
        base: dict[str, str] = {names.REQUEST_MODEL: model}
        if provider is not None:
            base[names.PROVIDER_NAME] = names.PROVIDERS.get(provider, provider)
        histogram = self.instruments.token_usage
        operation = names.OPERATIONS.get(provider, "chat") if provider is not None else "chat"
        histogram.record(input_tokens, {**base, names.OPERATION_NAME: operation, names.TOKEN_TYPE: "input"})
        histogram.record(output_tokens, {**base, names.OPERATION_NAME: operation, names.TOKEN_TYPE: "output"})
        if user_id is None:
            run = _current_run.get()
            user_id = run.user_id if run is not None else None
        self.instruments.spend.add(usd, base if user_id is None else {**base, names.USER_ID: user_id})
        span = trace.get_current_span()
        if span.is_recording():
            self._annotate(span, base, payload, input_tokens, output_tokens, usd)

    def _annotate(
        self,
        span: Span,
        base: Mapping[str, str],
        payload: Mapping[str, Any],
        input_tokens: int,
        output_tokens: int,
        usd: float,
    ) -> None:
        """Add this call to what the span already carries from earlier calls under it (an agent or tool span)."""
        context = span.get_span_context()
        key = (context.trace_id, context.span_id)
        added = (
            1,
            input_tokens,
            output_tokens,
            int(payload.get("cached_input_tokens") or 0),
            int(payload.get("cache_write_tokens") or 0),
            int(payload.get("reasoning_tokens") or 0),
            usd,
        )
        with self._lock:
            totals = self._spans.get(key)
            if totals is None:
                totals = self._spans[key] = [0.0] * len(added)
                if len(self._spans) > _MAX_SPANS:
                    self._spans.popitem(last=False)
            else:
                self._spans.move_to_end(key)
            for index, value in enumerate(added):
                totals[index] += value
            calls, inputs, outputs, cache_read, cache_write, reasoning, cost = totals
        attributes: dict[str, str | int | float] = {
            **base,
            names.INPUT_TOKENS: int(inputs),
            names.OUTPUT_TOKENS: int(outputs),
            names.COST_AMOUNT: cost,
            names.COST_CURRENCY: "USD",
            names.COST_SOURCE: "local",
            names.LLM_CALLS: int(calls),
        }
        for key_name, value in (
            (names.CACHE_READ_TOKENS, cache_read),
            (names.CACHE_CREATION_TOKENS, cache_write),
            (names.REASONING_TOKENS, reasoning),
        ):
            if value:
                attributes[key_name] = int(value)
        span.set_attributes(attributes)


def make_recorder(tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None) -> Recorder:
    """A recorder for these providers, or the global ones (resolved lazily: set them before or after)."""
    version = _version()
    tracer = trace.get_tracer(SCOPE, version) if tracer_provider is None else tracer_provider.get_tracer(SCOPE, version)
    return Recorder(tracer, _instruments_of(metrics.get_meter_provider() if meter_provider is None else meter_provider))
