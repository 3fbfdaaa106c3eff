"""Test helpers: a scripted model on pydantic-ai's own ``FunctionModel``, playing tool calls and answers with usage.

Use it in your own tests of an agent guarded with actguard, offline::

    from pydantic_ai import Agent
    from actguard_pydantic_ai.testing import ScriptedModel, answer, tool_call

    model = ScriptedModel([tool_call("search", {"query": "refunds"}), answer("Refunds take 5 days.")])
    agent = Agent(model, tools=[search])
    result = agent.run_sync("How long do refunds take?")

Each response reports the usage scripted for it (``agent.run`` / ``run_sync`` / ``iter``); a streamed run
(``run_stream``) plays the same script through ``FunctionModel``'s stream function, whose usage pydantic-ai
estimates from the text. pydantic-ai's ``TestModel`` works with the adapter too (it calls every tool once).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel
from pydantic_ai.usage import RequestUsage

from actguard.testing import ScriptedResponse, answer, tool_call

__all__ = ["ScriptedModel", "ScriptedResponse", "answer", "tool_call"]

_ids = itertools.count(1)


class ScriptedModel(FunctionModel):
    """A ``FunctionModel`` that returns ``responses`` in order (then fails), each with its usage and a unique
    response id.

    Strings in the script are final answers. With ``cycle=True`` the script starts over after its last response
    (one model for many runs, as in a benchmark). Thread- and task-safe.

    Args:
        responses: the script.
        model: the model name the responses claim (priced as that model by actguard).
        provider: the provider the responses claim (``ModelResponse.provider_name``).
        cycle: start the script over after its last response.

    Attributes:
        calls: how many times the model was called.
        inputs: the messages of each call, in order (kept unless ``cycle``).
    """

    def __init__(
        self,
        responses: Sequence[ScriptedResponse | str],
        *,
        model: str = "gpt-4o",
        provider: str | None = "openai",
        cycle: bool = False,
    ) -> None:
        super().__init__(self._respond, stream_function=self._stream, model_name=model)
        self.provider_name = provider
        self.cycle = cycle
        self._script = [answer(r) if isinstance(r, str) else r for r in responses]
        self._lock = threading.Lock()
        self.calls = 0
        self.inputs: list[list[ModelMessage]] = []

    def _next(self, messages: list[ModelMessage]) -> ScriptedResponse:
        with self._lock:
            if self.calls >= len(self._script) and not (self.cycle and self._script):
                raise AssertionError(f"ScriptedModel: the script has {len(self._script)} responses, called again")
            step = self._script[self.calls % len(self._script)]
            self.calls += 1
            if not self.cycle:  # a cycling model serves many runs: keep no history
                self.inputs.append(list(messages))
        return step

    def tool_outputs(self) -> list[str]:
        """Every tool result the model was shown, in order (from the messages of its latest call): the tools' return
        values, and the retry prompts of tools that raised ``ModelRetry`` (refusals among them)."""
        with self._lock:
            last = self.inputs[-1] if self.inputs else []
        outputs: list[str] = []
        for message in last:
            if not isinstance(message, ModelRequest):
                continue
            for part in message.parts:
                if isinstance(part, ToolReturnPart):
                    outputs.append(part.content if isinstance(part.content, str) else part.model_response_str())
                elif isinstance(part, RetryPromptPart) and part.tool_name is not None:
                    outputs.append(part.content if isinstance(part.content, str) else part.model_response())
        return outputs

    @property
    def observations(self) -> list[str]:
        """:meth:`tool_outputs` under the name every adapter's scripted model uses."""
        return self.tool_outputs()

    async def _respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        step = self._next(messages)
        n = next(_ids)
        parts: list[Any] = (
            [ToolCallPart(name, args, tool_call_id=f"call_{n}_{i}") for i, (name, args) in enumerate(step.calls)]
            if step.calls
            else [TextPart(step.text)]
        )
        details = dict(step.details)
        if step.reasoning_tokens:
            details["reasoning_tokens"] = step.reasoning_tokens
        usage = RequestUsage(
            input_tokens=step.input_tokens,
            cache_read_tokens=step.cached_input_tokens,
            output_tokens=step.output_tokens,
            details=details,
        )
        return ModelResponse(
            parts=parts, usage=usage, provider_name=self.provider_name, provider_response_id=f"resp_{n}"
        )

    async def _stream(self, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        step = self._next(messages)
        if step.calls:
            for i, (name, args) in enumerate(step.calls):
                yield {i: DeltaToolCall(name=name, json_args=json.dumps(args), tool_call_id=f"call_{next(_ids)}_{i}")}
        else:
            yield step.text
