"""Test helpers: a scripted chat model that plays tool calls and answers, reporting usage, with no network.

Use it in your own tests of an agent guarded with actguard::

    from actguard_langchain.testing import ScriptedChatModel, tool_call

    model = ScriptedChatModel(responses=[tool_call("search", {"query": "refunds"}), "Refunds take 5 days."])
    agent = create_agent(model, tools=[search])
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.base import LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

__all__ = ["ScriptedChatModel", "answer", "tool_call"]

_ids = itertools.count(1)


def tool_call(
    name: str, args: dict[str, Any] | None = None, *, input_tokens: int = 100, output_tokens: int = 20, **usage: int
) -> AIMessage:
    """A scripted model response that calls tool ``name`` with ``args``, reporting this usage.

    ``usage`` may add ``cache_read`` (cached input tokens) and ``reasoning`` (reasoning output tokens).
    """
    return AIMessage(
        content="",
        tool_calls=[{"name": name, "args": dict(args or {}), "id": f"call_{next(_ids)}", "type": "tool_call"}],
        usage_metadata=_usage(input_tokens, output_tokens, **usage),
    )


def answer(text: str, *, input_tokens: int = 100, output_tokens: int = 20, **usage: int) -> AIMessage:
    """A scripted final answer reporting this usage (``cache_read`` / ``reasoning`` as in :func:`tool_call`)."""
    return AIMessage(content=text, usage_metadata=_usage(input_tokens, output_tokens, **usage))


def _usage(input_tokens: int, output_tokens: int, cache_read: int = 0, reasoning: int = 0) -> Any:
    usage: dict[str, Any] = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }
    if cache_read:
        usage["input_token_details"] = {"cache_read": cache_read}
    if reasoning:
        usage["output_token_details"] = {"reasoning": reasoning}
    return usage


class ScriptedChatModel(BaseChatModel):
    """A chat model that returns ``responses`` in order (then fails), reporting each one's usage.

    Strings are final answers; build tool calls with :func:`tool_call`. ``bind_tools`` accepts any tools (the
    script decides what is called). Streaming yields the text word by word and the tool calls and usage in the
    last chunk, as providers do. Each response reports ``model_name`` and a unique response ``id`` in its
    ``response_metadata``, like a provider's. Thread-safe; :attr:`calls` counts the calls made.

    With ``per_conversation=True`` the response is picked by how many AI messages the conversation already has, so
    one model serves many runs (concurrent ones too), each played from the start of the script.

    Args:
        responses: the script.
        model_name: the model the responses claim to come from (priced as that model).
        provider: LangChain's provider name (``ls_provider``).
        per_conversation: pick responses by conversation turn instead of in call order.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    responses: list[Any] = Field(default_factory=list)
    model_name: str = "gpt-4o"
    provider: str = "openai"
    per_conversation: bool = False
    _next: int = PrivateAttr(default=0)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)
    _seen: list[BaseMessage] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "actguard-scripted"

    @property
    def calls(self) -> int:
        """How many times the model was called."""
        return self._next

    @property
    def observations(self) -> list[str]:
        """Tool results as the model saw them (the tool messages of its latest call's input), in order."""
        with self._lock:
            seen = list(self._seen)
        return [str(m.content) for m in seen if isinstance(m, ToolMessage)]

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = self.provider
        params["ls_model_name"] = self.model_name
        return params

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        """Accept the tools; the script decides which are called."""
        return self

    def _take(self, messages: list[BaseMessage]) -> AIMessage:
        with self._lock:
            index = self._next
            self._next = index + 1
            self._seen = list(messages)
        if self.per_conversation:
            index = sum(isinstance(m, AIMessage) for m in messages)
        if index >= len(self.responses):
            raise AssertionError(
                f"ScriptedChatModel: response {index + 1} wanted but only {len(self.responses)} scripted"
            )
        scripted = self.responses[index]
        message = AIMessage(content=scripted) if isinstance(scripted, str) else scripted
        meta = {**message.response_metadata, "model_name": self.model_name, "id": f"scripted-{next(_ids)}"}
        return message.model_copy(update={"response_metadata": meta})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._take(messages))])

    def _chunks(self, messages: list[BaseMessage]) -> Iterator[ChatGenerationChunk]:
        message = self._take(messages)
        text = message.content if isinstance(message.content, str) else ""
        words = text.split(" ") if text else []
        for word in words[:-1]:
            yield ChatGenerationChunk(message=AIMessageChunk(content=word + " ", id=message.response_metadata["id"]))
        last = AIMessageChunk(
            content=words[-1] if words else "",
            id=message.response_metadata["id"],
            tool_call_chunks=[
                {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": n, "type": "tool_call_chunk"}
                for n, c in enumerate(message.tool_calls)
            ],
            usage_metadata=message.usage_metadata,
            response_metadata=message.response_metadata,
        )
        yield ChatGenerationChunk(message=last)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(messages):
            if run_manager is not None:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(messages):
            if run_manager is not None:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk
