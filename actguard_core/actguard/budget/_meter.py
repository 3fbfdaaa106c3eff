"""Metering one SDK call inside a BudgetGuard: checks before sending, recording after, and metered streams.

The provider modules (``providers/openai.py`` ...) translate their SDK's requests, responses and stream events into
the pieces here; the enforcement logic lives only here and in :class:`~actguard.budget.BudgetGuard`.

Stream estimate: while a stream runs, its cost is estimated as the prompt (the input tokens the provider already
reported, e.g. Anthropic's ``message_start``, or else one token per 4 characters of the request's text) plus one
output token per 4 characters of streamed text (content, reasoning and tool-call argument deltas), at the model's
price. The stream is stopped as soon as that estimate takes a guard to a limit. A stream that ends normally is
charged the usage the provider reports at its end; a stream stopped, closed or abandoned before that is charged the
estimate.

Async calls take the same steps through :meth:`BudgetGuard._off_loop <actguard.BudgetGuard>`: in a worker thread when
a shared guard may wait on its store, right on the event loop otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

from actguard.budget import metering, prices
from actguard.budget._guard import BudgetGuard
from actguard.budget._usage import LLMUsage
from actguard.budget.metering import estimate_tokens
from actguard.exceptions import BudgetExceededError

__all__ = [
    "CallInfo",
    "StreamMeter",
    "abefore_call",
    "arecord_result",
    "estimate_tokens",
    "meter_async_iterator",
    "meter_iterator",
    "pick_model",
    "record_result",
]

T = TypeVar("T")
_CHARS_PER_TOKEN = 4


class CallInfo:
    """What a request says about one LLM call (model, prompt, output cap), for checks and stream estimates."""

    __slots__ = ("_prompt_tokens", "max_output_tokens", "model", "prompt", "provider")

    def __init__(self, provider: str, model: str | None, prompt: object, max_output_tokens: int | None) -> None:
        self.provider = provider
        self.model = model
        self.prompt = prompt
        self.max_output_tokens = max_output_tokens
        self._prompt_tokens: int | None = None

    @property
    def prompt_tokens(self) -> int:
        """Estimated prompt tokens (computed once, on first use)."""
        if self._prompt_tokens is None:
            self._prompt_tokens = estimate_tokens(self.prompt)
        return self._prompt_tokens


def _any_strict(guard: BudgetGuard | None) -> bool:
    while guard is not None:
        if guard.strict:
            return True
        guard = guard.parent
    return False


def before_call(guard: BudgetGuard, info: CallInfo) -> None:
    """Refuse the call before it is sent if a guard is spent, its model has no price, or a strict worst case fails."""
    guard.check_call(
        info.model,
        provider=info.provider,
        prompt_tokens=info.prompt_tokens if _any_strict(guard) else 0,
        max_output_tokens=info.max_output_tokens,
    )


async def abefore_call(guard: BudgetGuard, info: CallInfo) -> None:
    """:func:`before_call` for async SDK calls (off the event loop when a shared guard's store is involved)."""
    await guard._off_loop(before_call, guard, info)


_picked: dict[tuple[str, str | None, str], str] = {}


def pick_model(response_model: str | None, request_model: str | None, provider: str) -> str:
    """The response's model name, unless only the request's has a price (then the request's)."""
    if not response_model:
        return request_model or "unknown"
    key = (response_model, request_model, provider)
    picked = _picked.get(key)
    if picked is None:
        picked = _pick(response_model, request_model, provider)
        # remember only the common case (the response's name has a price): a later register() changes the others
        if picked == response_model and prices.lookup(picked, provider) is not None:
            if len(_picked) >= 1024:
                _picked.clear()
            _picked[key] = picked
    return picked


def _pick(response_model: str, request_model: str | None, provider: str) -> str:
    if (
        request_model
        and request_model != response_model
        and prices.lookup(response_model, provider) is None
        and prices.lookup(request_model, provider) is not None
    ):
        return request_model
    return response_model


def record_result(
    guard: BudgetGuard, usage: LLMUsage | None, call_id: str | None, response: Any, info: CallInfo
) -> None:
    """Record a finished call's usage, then raise with ``response`` attached if it crossed a limit.

    A response without usage is charged an estimate (its request's prompt and the response's text), with a warning
    (:func:`actguard.budget.metering.charge_estimate`).
    """
    if usage is not None:
        guard.record(usage, call_id=call_id)
        metering.note(usage, call_id)
    else:
        reported = getattr(response, "model", None) or getattr(response, "model_version", None)
        model = pick_model(reported if isinstance(reported, str) else None, info.model, info.provider)
        estimate = LLMUsage(model, info.provider, info.prompt_tokens, 0, 0, estimate_tokens(response))
        metering.charge_estimate(
            guard, estimate, reason=f"a {info.provider} response reported no token usage", call_id=call_id
        )
    guard.check(response)


async def arecord_result(
    guard: BudgetGuard, usage: LLMUsage | None, call_id: str | None, response: Any, info: CallInfo
) -> None:
    """:func:`record_result` for async SDK calls (off the event loop when a shared guard's store is involved)."""
    await guard._off_loop(record_result, guard, usage, call_id, response, info)


class StreamMeter:
    """The running account of one streamed call. Charged exactly once (:meth:`finish`)."""

    __slots__ = (
        "_final",
        "call_id",
        "chars",
        "done",
        "extra",
        "guard",
        "hide_usage_chunk",
        "info",
        "input_tokens",
        "limited",
        "model",
    )

    def __init__(self, guard: BudgetGuard, info: CallInfo) -> None:
        self.guard = guard
        self.info = info
        self.model = info.model or "unknown"
        self.call_id: str | None = None
        self.chars = 0
        self.input_tokens: int | None = None  # reported by the provider mid-stream (Anthropic message_start)
        self.done = False
        self.limited = guard.has_limits
        self.hide_usage_chunk = False
        self.extra: Any = None  # provider scratch space (e.g. Anthropic's cache counts from message_start)
        self._final: LLMUsage | None = None

    @property
    def final(self) -> LLMUsage | None:
        """The usage the provider reported for the whole call, once known."""
        return self._final

    def set_final(self, usage: LLMUsage) -> None:
        """Store the provider's reported usage for the whole call."""
        self._final = usage

    def estimate(self) -> LLMUsage:
        """The reported usage if known, else the estimate (see the module docstring)."""
        if self._final is not None:
            return self._final
        prompt = self.input_tokens if self.input_tokens is not None else self.info.prompt_tokens
        output = (self.chars + _CHARS_PER_TOKEN - 1) // _CHARS_PER_TOKEN
        return LLMUsage(self.model, self.info.provider, prompt, 0, 0, output, 0)

    def crossed(self) -> BudgetExceededError | None:
        """The BudgetExceededError this stream's running estimate would cause, or None."""
        if not self.limited:
            return None
        usage = self.estimate()
        price = prices.lookup(usage.model, usage.provider)
        usd = price.cost(usage) if price is not None else 0.0
        return self.guard.would_exceed(usd, usage.total_tokens)

    def finish(self, complete: bool = False) -> None:
        """Charge the call once: the reported usage, or the estimate when the stream ended early.

        Args:
            complete: the stream ran to its end (then a missing usage report is warned about: see
                :func:`actguard.budget.metering.charge_estimate`).
        """
        if self.done:
            return
        self.done = True
        usage = self.estimate()
        if self._final is None and complete:
            metering.charge_estimate(
                self.guard,
                usage,
                reason=f"a streamed {self.info.provider} call ended without reporting token usage",
                call_id=self.call_id,
            )
            return
        self.guard.record(usage, call_id=self.call_id)
        metering.note(usage, self.call_id, estimated=self._final is None)

    async def afinish(self) -> None:
        """:meth:`finish` (of a stream ended early) from async code, off the event loop for a shared guard."""
        if not self.done:
            await self.guard._off_loop(self.finish)

    def end(self, last: object) -> None:
        """The stream ran to its end: charge it, then check the guards (``last``, its last event, goes on the error)."""
        self.finish(complete=True)
        self.guard.check(last)


def meter_iterator(
    inner: Iterator[T], meter: StreamMeter, on_event: Callable[[StreamMeter, T], bool], stop: Callable[[], object]
) -> Iterator[T]:
    """Yield ``inner``'s events, metering each (``on_event`` False hides one); stop when a limit is crossed."""
    try:
        last: T | None = None
        for event in inner:
            show = on_event(meter, event)
            last = event
            error = meter.crossed()
            if error is not None:
                meter.finish()
                stop()
                error.response = event
                meter.guard._emit_exceeded(error)
                raise error
            if show:
                yield event
        meter.end(last)
    finally:
        if not meter.done:  # closed or abandoned before its end: charge the estimate, free the connection
            meter.finish()
            stop()


async def meter_async_iterator(
    inner: AsyncIterator[T],
    meter: StreamMeter,
    on_event: Callable[[StreamMeter, T], bool],
    stop: Callable[[], Awaitable[object]],
) -> AsyncIterator[T]:
    """The async twin of :func:`meter_iterator` (the charge and checks off the event loop for a shared guard)."""
    try:
        last: T | None = None
        async for event in inner:
            show = on_event(meter, event)
            last = event
            error = meter.crossed()
            if error is not None:
                await meter.afinish()
                await stop()
                error.response = event
                meter.guard._emit_exceeded(error)
                raise error
            if show:
                yield event
        await meter.guard._off_loop(meter.end, last)
    finally:
        await meter.afinish()
