"""actguard.otel under LangChain's own OpenTelemetry instrumentation: refusals and spend nest in the run's trace.

The instrumentation (opentelemetry-instrumentation-langchain) makes a span per chain, model call and tool call and
makes each the current span while it runs, so actguard's spans land under the framework's. It is installed in the
langchain "latest" nox session; elsewhere these tests skip.
"""

from __future__ import annotations

from contract import MODEL, require

require("langchain_core")

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("opentelemetry.sdk", reason="needs opentelemetry-sdk (the langchain latest nox session)")
instrumentation = pytest.importorskip(
    "opentelemetry.instrumentation.langchain",
    reason="needs opentelemetry-instrumentation-langchain (the langchain latest nox session)",
)

from langchain_core.messages import HumanMessage  # noqa: E402
from langchain_harness import tool_loop, tool_outputs  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

import actguard  # noqa: E402
import actguard.otel  # noqa: E402
from actguard import LLMUsage  # noqa: E402
from actguard_langchain import ActGuardCallbackHandler, guard_tool  # noqa: E402
from actguard_langchain.testing import ScriptedChatModel, answer, tool_call  # noqa: E402

pytestmark = pytest.mark.usefixtures("store")


@pytest.fixture(scope="module")
def provider() -> Iterator[TracerProvider]:
    """LangChain instrumented once for the module (the instrumentation keeps its first tracer across re-instruments)."""
    provider = TracerProvider()
    framework = instrumentation.LangchainInstrumentor()
    framework.instrument(tracer_provider=provider)
    yield provider
    framework.uninstrument()
    provider.shutdown()


@pytest.fixture
def spans(provider: TracerProvider) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    actguard.otel.instrument(tracer_provider=provider, meter_provider=MeterProvider([InMemoryMetricReader()]))
    yield exporter
    actguard.otel.uninstrument()
    exporter.shutdown()


def ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names = []
    while span.parent is not None:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_refusals_and_spend_nest_under_langchains_own_spans(spans: InMemorySpanExporter, mode: str) -> None:
    def send_email(to: str) -> str:
        """Send an email."""
        return f"sent to {to}"

    model = ScriptedChatModel(
        responses=[
            tool_call("send_email", {"to": "bob"}, input_tokens=100, output_tokens=10),
            tool_call("send_email", {"to": "bob"}, input_tokens=120, output_tokens=10),
            answer("done", input_tokens=140, output_tokens=5),
        ]
    )
    tool = guard_tool(send_email, rate_limit={"max_calls": 1, "period": 60})
    loop = tool_loop(model, [tool])
    handler = ActGuardCallbackHandler(user_id="alice")
    messages = [HumanMessage("email bob twice")]
    config = {"callbacks": [handler]}
    out = loop.invoke(messages, config) if mode == "sync" else await loop.ainvoke(messages, config)
    assert tool_outputs(out)[0] == "sent to bob"
    assert "Refused (RATE_LIMITED)" in tool_outputs(out)[1] or "rate" in tool_outputs(out)[1].lower()

    finished = spans.get_finished_spans()
    by_id = {span.context.span_id: span for span in finished}
    assert len({span.context.trace_id for span in finished}) == 1  # one trace: the run's

    [refusal] = [span for span in finished if span.name.startswith("run_guardrail")]
    assert refusal.attributes is not None
    assert refusal.attributes["gen_ai.tool.name"] == "send_email"
    assert refusal.attributes["actguard.guard.kind"] == "rate_limit"
    parents = ancestors(refusal, by_id)
    assert parents[0] == "execute_tool send_email"  # the framework's span for this tool call
    assert parents[-1] == "tool_loop.workflow"  # ...inside the run's root span

    metered = [span for span in finished if span.attributes and "actguard.llm_calls" in span.attributes]
    assert sum(span.attributes["actguard.llm_calls"] for span in metered) == 3  # type: ignore[index, misc]
    assert sum(span.attributes["gen_ai.usage.input_tokens"] for span in metered) == 360  # type: ignore[index, misc]
    cost = sum(span.attributes["gen_ai.usage.cost.amount"] for span in metered)  # type: ignore[index, misc]
    assert handler.last_budget is not None
    assert cost == pytest.approx(handler.last_budget.usd_used)
    assert cost == pytest.approx(actguard.prices.cost_of(LLMUsage(MODEL, "openai", input_tokens=360, output_tokens=25)))
    for span in metered:
        assert "tool_loop.workflow" in [span.name, *ancestors(span, by_id)]
