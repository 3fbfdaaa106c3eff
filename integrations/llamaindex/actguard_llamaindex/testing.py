"""Offline test double: a scripted function-calling LLM that plays fixed replies and reports usage like OpenAI.

Example::

    from actguard_llamaindex.testing import ScriptedLLM, answer, tool_call

    llm = ScriptedLLM([tool_call("search", {"query": "refunds"}), answer("done")])
    agent = FunctionAgent(tools=[search], llm=llm)

Each reply's usage is reported the way LlamaIndex's OpenAI LLM reports it: the provider response in
``response.raw`` (with ``id``, ``model`` and ``usage``; for a stream, on the last chunk, as OpenAI sends it with
``stream_options={"include_usage": True}``) and the token counts in ``response.additional_kwargs``.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import AsyncGenerator, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.tools import ToolSelection

__all__ = ["Reply", "ScriptedLLM", "answer", "tool_call"]

_ids = itertools.count(1)
_ids_lock = threading.Lock()


@dataclass(frozen=True)
class Reply:
    """One scripted model response: tool calls (``(name, args)`` pairs) or a text answer, with its usage."""

    text: str = ""
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = field(default_factory=tuple)
    input_tokens: int = 100
    output_tokens: int = 20


def tool_call(name: str, args: dict[str, Any], *, input_tokens: int = 100, output_tokens: int = 20) -> Reply:
    """A reply that calls tool ``name`` with ``args``."""
    return Reply("", ((name, dict(args)),), input_tokens, output_tokens)


def answer(text: str, *, input_tokens: int = 100, output_tokens: int = 20) -> Reply:
    """A reply that answers with ``text`` (ending an agent run)."""
    return Reply(text, (), input_tokens, output_tokens)


def _next_id(prefix: str) -> str:
    with _ids_lock:
        return f"{prefix}-scripted-{next(_ids)}"


class ScriptedLLM(FunctionCallingLLM):
    """A function-calling LLM that plays ``replies`` in order (repeating the last one) and reports usage.

    With ``per_conversation=True`` the reply is picked by the conversation's position instead (how many assistant
    messages the request already holds), so one instance can serve many runs, concurrent ones included.

    Attributes:
        model: the model name reported in every response (priced by genai-prices).
        calls: how many model calls were made.
        observations: tool results the model was sent (tool messages, in order, each once).
    """

    model: str = "gpt-4o"
    _replies: list[Reply] = PrivateAttr(default_factory=list)
    _calls: int = PrivateAttr(default=0)
    _observations: list[str] = PrivateAttr(default_factory=list)
    _seen_tool_ids: set[str] = PrivateAttr(default_factory=set)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _per_conversation: bool = PrivateAttr(default=False)

    def __init__(
        self, replies: Sequence[Reply], model: str = "gpt-4o", *, per_conversation: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(model=model, **kwargs)
        self._per_conversation = per_conversation
        if not replies:
            raise ValueError("ScriptedLLM(replies=...) needs at least one reply")
        self._replies = list(replies)

    @classmethod
    def class_name(cls) -> str:
        return "scripted_openai_llm"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(is_chat_model=True, is_function_calling_model=True, model_name=self.model)

    @property
    def calls(self) -> int:
        return self._calls

    @property
    def observations(self) -> list[str]:
        with self._lock:
            return list(self._observations)

    # -- the script -----------------------------------------------------------------------------------------
    def _play(self, messages: Sequence[ChatMessage]) -> tuple[Reply, str]:
        with self._lock:
            for message in messages:
                tool_id = message.additional_kwargs.get("tool_call_id")
                if message.role == MessageRole.TOOL and isinstance(tool_id, str) and tool_id not in self._seen_tool_ids:
                    self._seen_tool_ids.add(tool_id)
                    self._observations.append(str(message.content))
            if self._per_conversation:
                position = sum(1 for m in messages if m.role == MessageRole.ASSISTANT)
            else:
                position = self._calls
            reply = self._replies[min(position, len(self._replies) - 1)]
            self._calls += 1
        return reply, _next_id("chatcmpl")

    def _usage(self, reply: Reply) -> dict[str, int]:
        return {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        }

    def _message(self, reply: Reply) -> ChatMessage:
        calls = [
            {"id": _next_id("call"), "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for name, args in reply.tool_calls
        ]
        extra: dict[str, Any] = {"tool_calls": calls} if calls else {}
        return ChatMessage(role=MessageRole.ASSISTANT, content=reply.text, additional_kwargs=extra)

    def _raw(self, response_id: str, message: ChatMessage | None, usage: dict[str, int] | None) -> dict[str, Any]:
        choices = (
            [] if message is None else [{"index": 0, "message": {"role": "assistant", "content": message.content}}]
        )
        return {"id": response_id, "object": "chat.completion", "model": self.model, "choices": choices, "usage": usage}

    def _chat(self, messages: Sequence[ChatMessage]) -> ChatResponse:
        reply, response_id = self._play(messages)
        message = self._message(reply)
        usage = self._usage(reply)
        return ChatResponse(message=message, raw=self._raw(response_id, message, usage), additional_kwargs=usage)

    def _stream(self, messages: Sequence[ChatMessage]) -> list[ChatResponse]:
        reply, response_id = self._play(messages)
        message = self._message(reply)
        text = reply.text
        half = len(text) // 2
        chunks = []
        for delta, so_far in ((text[:half], text[:half]), (text[half:], text)):
            partial = ChatMessage(
                role=MessageRole.ASSISTANT, content=so_far, additional_kwargs=message.additional_kwargs
            )
            chunks.append(ChatResponse(message=partial, delta=delta, raw=self._raw(response_id, partial, None)))
        usage = self._usage(reply)  # OpenAI's last chunk (stream_options include_usage): no choices, the usage
        chunks.append(
            ChatResponse(message=message, delta="", raw=self._raw(response_id, None, usage), additional_kwargs=usage)
        )
        return chunks

    # -- LLM interface --------------------------------------------------------------------------------------
    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._chat(messages)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._chat(messages)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Generator[ChatResponse, None, None]:
        chunks = self._stream(messages)

        def gen() -> Generator[ChatResponse, None, None]:
            yield from chunks

        return gen()

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> AsyncGenerator[ChatResponse, None]:
        chunks = self._stream(messages)

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            for chunk in chunks:
                yield chunk

        return gen()

    def _complete(self, prompt: str) -> CompletionResponse:
        reply, response_id = self._play([ChatMessage(role=MessageRole.USER, content=prompt)])
        usage = self._usage(reply)
        return CompletionResponse(text=reply.text, raw=self._raw(response_id, None, usage), additional_kwargs=usage)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return self._complete(prompt)

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return self._complete(prompt)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> Generator[CompletionResponse, None, None]:
        response = self._complete(prompt)

        def gen() -> Generator[CompletionResponse, None, None]:
            yield CompletionResponse(text=response.text, delta=response.text, raw=response.raw, additional_kwargs={})
            yield CompletionResponse(
                text=response.text, delta="", raw=response.raw, additional_kwargs=response.additional_kwargs
            )

        return gen()

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> AsyncGenerator[CompletionResponse, None]:
        response = self._complete(prompt)

        async def gen() -> AsyncGenerator[CompletionResponse, None]:
            yield CompletionResponse(text=response.text, delta=response.text, raw=response.raw, additional_kwargs={})
            yield CompletionResponse(
                text=response.text, delta="", raw=response.raw, additional_kwargs=response.additional_kwargs
            )

        return gen()

    # -- function calling -----------------------------------------------------------------------------------
    def _prepare_chat_with_tools(
        self,
        tools: Sequence[Any],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            messages.append(ChatMessage(role=MessageRole.USER, content=user_msg))
        elif user_msg is not None:
            messages.append(user_msg)
        return {"messages": messages}

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        calls = response.message.additional_kwargs.get("tool_calls") or []
        if not calls and error_on_no_tool_call:
            raise ValueError(f"Expected at least one tool call, but got {len(calls)} tool calls.")
        return [
            ToolSelection(
                tool_id=call["id"],
                tool_name=call["function"]["name"],
                tool_kwargs=json.loads(call["function"]["arguments"]),
            )
            for call in calls
        ]
