"""Offline test double for crews: a scripted CrewAI LLM that plays fixed replies and reports usage.

Example::

    from actguard_crewai.testing import ScriptedLLM, answer, tool_call

    llm = ScriptedLLM([tool_call("search", {"query": "refunds"}), answer("done")])
    agent = Agent(role="researcher", goal="...", backstory="...", llm=llm, tools=[search])
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from typing import Any

from crewai.events.types.llm_events import LLMCallType
from crewai.llms.base_llm import BaseLLM, llm_call_context

__all__ = ["Reply", "ScriptedLLM", "answer", "final_answer", "tool_call"]

_TOOLS_REMINDER = "\n\n\nYou ONLY have access to the following tools"
_ids = itertools.count()
_ids_lock = threading.Lock()


@dataclass(frozen=True)
class Reply:
    """One scripted LLM reply (CrewAI's ReAct text format) and the usage it reports."""

    text: str
    input_tokens: int = 100
    output_tokens: int = 20


def tool_call(name: str, args: dict[str, Any], *, input_tokens: int = 100, output_tokens: int = 20) -> Reply:
    """A reply that calls tool ``name`` with ``args``."""
    text = f"Thought: I need {name}\nAction: {name}\nAction Input: {json.dumps(args)}"
    return Reply(text, input_tokens, output_tokens)


def answer(text: str, *, input_tokens: int = 100, output_tokens: int = 20) -> Reply:
    """A reply that ends the task with ``text`` (CrewAI's "Final Answer")."""
    return Reply(f"Thought: I now know the final answer\nFinal Answer: {text}", input_tokens, output_tokens)


final_answer = answer
"""The earlier name of :func:`answer`."""


class ScriptedLLM(BaseLLM):
    """A CrewAI LLM that plays ``replies`` in order (repeating the last) and reports usage like CrewAI's providers.

    Attributes:
        calls: how many times the LLM was called.
        observations: tool results as the model saw them (the ``Observation:`` CrewAI appended), in order.
    """

    def __init__(self, replies: list[Reply], model: str = "gpt-4o") -> None:
        super().__init__(model=model)
        self._replies = list(replies)
        self.calls = 0
        self.observations: list[str] = []

    def supports_function_calling(self) -> bool:
        return False

    def call(
        self,
        messages: Any,
        tools: Any = None,
        callbacks: Any = None,
        available_functions: Any = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: Any = None,
        **kwargs: Any,
    ) -> str:
        with llm_call_context():
            self._emit_call_started_event(
                messages=messages,
                tools=tools,
                callbacks=callbacks,
                available_functions=available_functions,
                from_task=from_task,
                from_agent=from_agent,
            )
            self._record_observation(messages)
            reply = self._replies[min(self.calls, len(self._replies) - 1)]
            self.calls += 1
            usage = {
                "prompt_tokens": reply.input_tokens,
                "completion_tokens": reply.output_tokens,
                "total_tokens": reply.input_tokens + reply.output_tokens,
            }
            self._track_token_usage_internal(usage)
            with _ids_lock:
                response_id = f"scripted-{next(_ids)}"
            self._emit_call_completed_event(
                response=reply.text,
                call_type=LLMCallType.LLM_CALL,
                from_task=from_task,
                from_agent=from_agent,
                messages=messages,
                usage=usage,
                response_id=response_id,
            )
            return reply.text

    def _record_observation(self, messages: Any) -> None:
        for message in reversed(messages if isinstance(messages, list) else []):
            content = message.get("content") if isinstance(message, dict) else None
            if message.get("role") == "assistant" and isinstance(content, str) and "\nObservation:" in content:
                observation = content.split("\nObservation:", 1)[1]
                # CrewAI appends a reminder of the tools to some observations; it is not the tool's output.
                observation = observation.split(_TOOLS_REMINDER, 1)[0]
                self.observations.append(observation.strip())
                return
