"""actguard.otel in an OpenAI Agents SDK run: refusals and spend land under the span that is current around the run.

The Agents SDK's own tracing is not OpenTelemetry, so the test opens the parent span itself (as an application
or an OpenTelemetry bridge would) around ``Runner.run``; tools and model calls run in the SDK's asyncio tasks,
which carry the context, so actguard's spans and attributes stay in that trace. opentelemetry-sdk is installed in
the openai_agents "latest" nox session; elsewhere these tests skip.
"""

from __future__ import annotations

from contract import MODEL, require

require("agents")

from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("opentelemetry.sdk", reason="needs opentelemetry-sdk (the openai_agents latest nox session)")

from agents import Agent, Runner  # noqa: E402
from agents_harness import consume  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

import actguard  # noqa: E402
import actguard.otel  # noqa: E402
from actguard import LLMUsage  # noqa: E402
from actguard_openai_agents import ActGuardRunHooks, guard_tool  # noqa: E402
from actguard_openai_agents.testing import ScriptedModel, answer, tool_call  # noqa: E402

pytestmark = pytest.mark.usefixtures("store")


@pytest.fixture
def otel() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    actguard.otel.instrument(tracer_provider=provider, meter_provider=MeterProvider([InMemoryMetricReader()]))
    yield provider, spans
    actguard.otel.uninstrument()
    provider.shutdown()


@pytest.mark.parametrize("mode", ["run", "streamed"])
async def test_refusals_and_spend_nest_under_the_runs_span(
    otel: tuple[TracerProvider, InMemorySpanExporter], mode: str
) -> None:
    provider, spans = otel

    def send_email(to: str) -> str:
        """Send an email."""
        return f"sent to {to}"

    model = ScriptedModel(
        [
            tool_call("send_email", {"to": "bob"}, input_tokens=100, output_tokens=10),
            tool_call("send_email", {"to": "bob"}, input_tokens=120, output_tokens=10),
            answer("done", input_tokens=140, output_tokens=5),
        ]
    )
    agent = Agent(
        name="assistant",
        instructions="Help.",
        model=model,
        tools=[guard_tool(send_email, rate_limit={"max_calls": 1, "period": 60})],
    )
    hooks = ActGuardRunHooks(user_id="alice")
    with provider.get_tracer("app").start_as_current_span("invoke_agent assistant") as parent:
        result: Any
        if mode == "run":
            result = await Runner.run(agent, "email bob twice", hooks=hooks)
        else:
            result = Runner.run_streamed(agent, "email bob twice", hooks=hooks)
            await consume(result)
    assert result.final_output == "done"

    finished = {span.name: span for span in spans.get_finished_spans()}
    assert set(finished) == {"run_guardrail rate_limit", "invoke_agent assistant"}
    refusal = finished["run_guardrail rate_limit"]
    assert refusal.parent is not None and refusal.parent.span_id == parent.get_span_context().span_id
    assert refusal.attributes is not None and refusal.attributes["gen_ai.tool.name"] == "send_email"

    run = finished["invoke_agent assistant"].attributes
    assert run is not None
    guard = hooks.budget_for(result)
    assert guard is not None
    assert (run["actguard.llm_calls"], run["gen_ai.usage.input_tokens"], run["gen_ai.usage.output_tokens"]) == (
        3,
        360,
        25,
    )
    assert run["gen_ai.usage.cost.amount"] == pytest.approx(guard.usd_used)
    assert guard.usd_used == pytest.approx(
        actguard.prices.cost_of(LLMUsage(MODEL, "openai", input_tokens=360, output_tokens=25))
    )
