"""How one layer learns that another already metered an LLM call, with or without a response id.

Several layers can see one LLM call: actguard's SDK meter (which records it into the active BudgetGuard) and a
framework adapter (which records it into its run's budget). A call that carries the provider's response id is
recorded once whatever the layers do (``BudgetGuard.record(call_id=...)``). Many carry none (a streamed Chat
Completion through a framework, a proxy that drops it), so every layer that meters a call also notes it here:

- :func:`note` appends ``(usage, call_id, estimated)`` to a log held in a context variable of the context the call
  ran in. The log is a chain of immutable links: setting it costs one allocation, and a copy of the context (a task,
  a framework's callback) sees the calls made before the copy and none made after.
- A layer that wraps a model call takes :func:`mark` before it and reads :func:`since` after it, in any context
  copied from the one the call ran in: the calls another layer metered in between. None means nobody did.

Usage::

    before = metering.mark()
    response = model.call(...)            # actguard's SDK meter notes the call here, if it metered it
    if metering.since(before):            # already charged to the active BudgetGuard: do not charge it again
        ...

Calls no layer could meter (no usage in the response, a request the SDK patch does not recognise) are charged an
estimate with :func:`charge_estimate`, which warns once per process and, under a ``strict=True`` guard, refuses.
"""

from __future__ import annotations

import contextvars
import threading
import warnings
from collections.abc import Mapping
from typing import NamedTuple

from actguard.budget._guard import BudgetGuard
from actguard.budget._usage import LLMUsage
from actguard.exceptions import ActGuardWarning, UnmeteredCallError

__all__ = ["MeteredCall", "already_reported", "charge_estimate", "estimate_tokens", "mark", "note", "since"]

_CHARS_PER_TOKEN = 4
_MAX_DEPTH = 12
_MAX_LINKS = 64  # calls a log keeps: a layer reading further back than that gets the newest ones


class MeteredCall(NamedTuple):
    """One call a layer metered (immutable; a named tuple, cheap to build on every metered call).

    Attributes:
        usage: what was charged.
        call_id: the provider's response id it was recorded under, if any.
        estimated: True when the usage is an estimate (the provider reported none).
    """

    usage: LLMUsage
    call_id: str | None
    estimated: bool = False


class _Link(NamedTuple):
    call: MeteredCall
    previous: _Link | None
    depth: int


_log: contextvars.ContextVar[_Link | None] = contextvars.ContextVar("actguard_metered_calls", default=None)


def note(usage: LLMUsage, call_id: str | None, *, estimated: bool = False) -> None:
    """Note that the current context metered one call (the SDK meters call this after recording)."""
    previous = _log.get()
    if previous is not None and previous.depth >= _MAX_LINKS:
        previous = _trim(previous)
    _log.set(_Link(MeteredCall(usage, call_id, estimated), previous, 1 if previous is None else previous.depth + 1))


def _trim(link: _Link) -> _Link | None:
    calls: list[MeteredCall] = []
    node: _Link | None = link
    while node is not None and len(calls) < _MAX_LINKS // 2:
        calls.append(node.call)
        node = node.previous
    rebuilt: _Link | None = None
    for depth, call in enumerate(reversed(calls), start=1):
        rebuilt = _Link(call, rebuilt, depth)
    return rebuilt


def mark() -> object:
    """An opaque marker of the calls metered so far in this context (for :func:`since`)."""
    return _log.get()


def since(marker: object) -> tuple[MeteredCall, ...]:
    """The calls metered in this context after ``marker`` was taken, oldest first."""
    calls: list[MeteredCall] = []
    node = _log.get()
    while node is not None and node is not marker and len(calls) < _MAX_LINKS:
        calls.append(node.call)
        node = node.previous
    calls.reverse()
    return tuple(calls)


def already_reported(guard: BudgetGuard | None, call_id: str | None, metered: tuple[MeteredCall, ...]) -> bool:
    """Whether a record into ``guard`` (the caller's active guard, where actguard's SDK meter records) reported a
    call already, so that charging it to a budget outside ``guard``'s chain takes ``record(..., reported=True)``.

    True when another layer metered the call in this context (``metered``: :func:`since`) or ``guard`` recorded it
    under ``call_id`` (the SDK meter ran in a context this layer cannot see). False without a guard.
    """
    if guard is None:
        return False
    return bool(metered) or (call_id is not None and guard.has_recorded(call_id))


def estimate_tokens(obj: object) -> int:
    """A tokenizer-free estimate: one token per 4 characters of the text found in ``obj`` (dicts, lists, models)."""
    chars = _chars(obj, 0)
    return (chars + _CHARS_PER_TOKEN - 1) // _CHARS_PER_TOKEN


def _chars(obj: object, depth: int) -> int:
    if isinstance(obj, str):
        return len(obj)
    if depth > _MAX_DEPTH or obj is None or isinstance(obj, (bytes, bytearray, int, float, bool)):
        return 0
    if isinstance(obj, Mapping):
        return sum(_chars(v, depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_chars(v, depth + 1) for v in obj)
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        try:
            return _chars(dump(exclude_none=True), depth + 1)
        except Exception:  # an estimate must never break the call
            return 0
    return 0


_warned: set[str] = set()
_warn_lock = threading.Lock()


def charge_estimate(
    guard: BudgetGuard, usage: LLMUsage, *, reason: str, call_id: str | None = None, reported: bool = False
) -> float:
    """Charge an estimated ``usage`` for a call no layer could meter; warn once per ``reason``; note the call.

    Every guard from ``guard`` outwards is charged (as :meth:`BudgetGuard.record`). Under a ``strict=True`` guard
    the estimate is still charged and then :class:`~actguard.UnmeteredCallError` is raised: a strict budget does
    not let a run go on with spend it cannot count.

    Args:
        guard: the budget the call belongs to.
        usage: the estimate (see :func:`estimate_tokens`).
        reason: why the call could not be metered (the warning's text; one warning per distinct reason).
        call_id: the provider's response id, if known.
        reported: the call was reported already, by a record into a budget outside ``guard``'s chain (see
            :meth:`BudgetGuard.record`): this charge is a ``charged`` event, not a second ``recorded`` one.

    A call ``guard`` has recorded under ``call_id`` already (metered in a context this layer cannot see, such as a
    task consuming a stream) is left as it is: nothing charged, no warning.

    Returns:
        The USD charged to ``guard``.
    """
    if call_id is not None and guard.has_recorded(call_id):
        return 0.0  # another layer metered this very call (its usage reached the guard, not this layer): no estimate
    usd = guard.record(usage, call_id=call_id, reported=reported)
    note(usage, call_id, estimated=True)
    with _warn_lock:
        first = reason not in _warned
        if first:
            if len(_warned) > 256:
                _warned.clear()
            _warned.add(reason)
    if first:
        warnings.warn(
            f"actguard: {reason}; charged an estimate of {usage.input_tokens} input and {usage.output_tokens} output "
            f"tokens of {usage.model!r} (one token per 4 characters). Warned once.",
            ActGuardWarning,
            stacklevel=3,
        )
    strict: BudgetGuard | None = guard
    while strict is not None and not strict.strict:
        strict = strict.parent
    if strict is not None:
        raise UnmeteredCallError(usage.model, reason, guard_name=strict.name)
    return usd
