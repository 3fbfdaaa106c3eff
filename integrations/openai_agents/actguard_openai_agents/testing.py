"""Test helpers: a scripted :class:`agents.Model` that plays tool calls and answers, reporting usage, with no network.

Use it in your own tests of an agent guarded with actguard::

    from agents import Agent, Runner
    from actguard_openai_agents.testing import ScriptedModel, answer, tool_call

    model = ScriptedModel([tool_call("search", {"query": "refunds"}), answer("Refunds take 5 days.")])
    agent = Agent(name="support", model=model, tools=[search])
    result = Runner.run_sync(agent, "How long do refunds take?")

Works with every supported openai-agents release (the SDK's own ``agents.testing`` exists only in recent ones).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from agents import Model, ModelResponse, Usage
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseUsage,
)
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from actguard.testing import ScriptedResponse, answer, tool_call

__all__ = ["ScriptedModel", "ScriptedResponse", "answer", "tool_call"]

_ids = itertools.count(1)
# openai >= 3 reports cache writes in the input details too (a required field there).
_CACHE_WRITE: dict[str, Any] = (
    {"cache_write_tokens": 0} if "cache_write_tokens" in InputTokensDetails.model_fields else {}
)


class ScriptedModel(Model):
    """A model that returns ``responses`` in order (then fails), each with its usage and a unique response id.

    Strings in the script are final answers. With ``cycle=True`` the script starts over after its last response
    (one model for many runs, as in a benchmark). ``stream_response`` streams the same responses as a
    ``response.completed`` event carrying the output and usage, as the Responses API ends a stream. Thread- and
    task-safe.

    Attributes:
        model: the model name the responses claim (priced as that model by actguard).
        calls: how many times the model was called.
        inputs: the input items of each call, in order (tool outputs the model saw are ``function_call_output``).
    """

    def __init__(
        self, responses: Sequence[ScriptedResponse | str], *, model: str = "gpt-4o", cycle: bool = False
    ) -> None:
        self.model = model
        self.cycle = cycle
        self._script = [answer(r) if isinstance(r, str) else r for r in responses]
        self._lock = threading.Lock()
        self.calls = 0
        self.inputs: list[list[Any]] = []

    def _next(self, input: str | list[Any]) -> tuple[ScriptedResponse, str]:
        with self._lock:
            if self.calls >= len(self._script) and not (self.cycle and self._script):
                raise AssertionError(f"ScriptedModel: the script has {len(self._script)} responses, called again")
            step = self._script[self.calls % len(self._script)]
            self.calls += 1
            if not self.cycle:  # a cycling model serves many runs: keep no history
                items = [{"role": "user", "content": input}] if isinstance(input, str) else list(input)
                self.inputs.append(items)
        return step, f"resp_{next(_ids)}"

    def tool_outputs(self) -> list[str]:
        """Every tool output the model was shown, in order (from the input of its latest call)."""
        with self._lock:
            last = self.inputs[-1] if self.inputs else []
        return [str(_get(item, "output")) for item in last if _get(item, "type") == "function_call_output"]

    @property
    def observations(self) -> list[str]:
        """:meth:`tool_outputs` under the name every adapter's scripted model uses."""
        return self.tool_outputs()

    @staticmethod
    def _output(step: ScriptedResponse, response_id: str) -> list[Any]:
        if step.calls:
            return [
                ResponseFunctionToolCall(
                    id=f"fc_{response_id}_{i}",
                    call_id=f"call_{response_id}_{i}",
                    name=name,
                    arguments=json.dumps(args),
                    type="function_call",
                    status="completed",
                )
                for i, (name, args) in enumerate(step.calls)
            ]
        return [
            ResponseOutputMessage(
                id=f"msg_{response_id}",
                content=[ResponseOutputText(text=step.text, type="output_text", annotations=[])],
                role="assistant",
                status="completed",
                type="message",
            )
        ]

    @staticmethod
    def _usage(step: ScriptedResponse) -> ResponseUsage:
        return ResponseUsage(
            input_tokens=step.input_tokens,
            input_tokens_details=InputTokensDetails(cached_tokens=step.cached_input_tokens, **_CACHE_WRITE),
            output_tokens=step.output_tokens,
            output_tokens_details=OutputTokensDetails(reasoning_tokens=step.reasoning_tokens),
            total_tokens=step.input_tokens + step.output_tokens,
        )

    async def get_response(self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any) -> ModelResponse:
        step, response_id = self._next(input)
        u = self._usage(step)
        usage = Usage(
            requests=1,
            input_tokens=u.input_tokens,
            output_tokens=u.output_tokens,
            total_tokens=u.total_tokens,
            input_tokens_details=u.input_tokens_details,
            output_tokens_details=u.output_tokens_details,
        )
        return ModelResponse(output=self._output(step, response_id), usage=usage, response_id=response_id)

    async def stream_response(  # type: ignore[override,unused-ignore]
        self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any
    ) -> AsyncIterator[Any]:
        step, response_id = self._next(input)
        response = Response(
            id=response_id,
            created_at=time.time(),
            model=self.model,
            object="response",
            output=self._output(step, response_id),
            parallel_tool_calls=True,
            tool_choice="auto",
            tools=[],
            usage=self._usage(step),
            status="completed",
        )
        yield ResponseCompletedEvent(response=response, sequence_number=0, type="response.completed")


def _get(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else getattr(item, key, None)
