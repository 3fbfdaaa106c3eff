"""Guard events: every decision as one versioned envelope, sent to the configured sinks.

:func:`emit` is called on hot paths: with no sink it returns at once; with sinks it builds one dict and hands it to
each of them. Queued sinks (:class:`HttpSink`, :class:`JsonlSink`) only append it to a bounded queue that a
background thread drains, so reporting never blocks the agent and never raises into it.

The envelope (version 1)
------------------------
Every event is a JSON object::

    {
      "v": 1,                         # envelope version; a field's meaning changes only with a new version
      "id": "3f9c0d2a7b1e-1a",        # unique per event (process prefix + counter); receivers may dedupe on it
      "timestamp": 1764333449.123,    # Unix time in seconds (UTC), when the event was emitted
      "agent_id": "support-bot",      # from actguard.configure(), else null
      "run_id": "req-123",            # the RunContext's run_id unless given, else null
      "user_id": "alice",             # as given, else the RunContext's user_id, else null
      "tool": "send_email",           # the guarded tool, or null
      "category": "tool_guard",       # see below
      "name": "rate_limit",           # what decided: a guard name, or an event name
      "outcome": "blocked",           # what it decided
      "payload": {...}                # details (limits, observed values, costs); never secrets
    }

The HTTP gateway receives batches ``{"v": 1, "events": [envelope, ...]}``; a JSONL file holds one envelope per line.

Categories and names
--------------------
What actguard itself emits (``category`` / ``name`` / ``outcome``; payload keys in brackets):

- ``tool_guard`` / guard name / ``allowed`` or ``blocked`` (refused before the tool ran) or ``intervened`` (the
  guard stopped or answered a call itself):
  ``rate_limit`` (allowed, blocked), ``circuit_breaker`` (allowed, blocked [dependency, retry_after, failures],
  ``opened`` [dependency, failures, error], ``closed`` [dependency]), ``timeout`` (allowed, intervened),
  ``max_attempts`` (allowed, blocked),
  ``idempotent`` (allowed, blocked, intervened: a duplicate answered from the first call).
  Adapters that hand a refusal back to the model as the tool's result also report ``tool_guard`` / ``refusal`` /
  ``returned_to_model``.
- ``custody`` / ``prove``: ``recorded`` [kind, count, truncated] or ``blocked`` [code: NO_SESSION,
  TOO_MANY_RESULTS]; ``custody`` / ``enforce``: ``allowed`` or ``blocked`` [code, e.g. MISSING_FACT, and details].
- ``budget`` / ``llm_call`` / ``recorded`` [guard, model, provider, call_id, usd, token counts]: one metered LLM call;
  ``budget`` / ``budget_exceeded`` / ``blocked`` [guard, limit_type, limit, used]; adapters also report
  ``budget`` / ``llm_call`` (or ``run``) / ``blocked`` when they stop a run before its next LLM call.
- ``run`` / ``run_start`` / ``started`` and ``run`` / ``run_end`` / ``completed`` or ``failed`` [error], from
  :class:`actguard.RunContext`.
- ``store`` / operation / ``unavailable`` or ``fail_open`` [store, guard, error]: the state store could not be reached.

Sinks
-----
A sink is any callable taking the envelope dict: :func:`add_sink` / :func:`remove_sink`. A plain callable runs on the
caller's thread (keep it quick; it must treat the dict as read-only); its exceptions are swallowed. For tests,
:func:`actguard.testing.capture_events` collects events in a list.

Subscribers
-----------
A subscriber (:func:`subscribe` / :func:`unsubscribe`) gets :func:`emit`'s own arguments on the caller's thread,
before (and without) an envelope being built: ``fn(category, name, outcome, tool, run_id, user_id, payload)``, with
``run_id`` / ``user_id`` as the caller gave them (None: look at the current :class:`actguard.RunContext`) and
``payload`` possibly None. It is for in-process observers that must stay cheap on every decision
(:mod:`actguard.otel`). It must be quick, must not keep or change ``payload``; its exceptions are swallowed.
"""

from __future__ import annotations

import atexit
import itertools
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from actguard.context import _current_run

if TYPE_CHECKING:
    from actguard.reporting._http import HttpSink
    from actguard.reporting._jsonl import JsonlSink
    from actguard.reporting._queued import QueuedSink
    from actguard.reporting._sender import BatchSender, SenderOptions, SinkStats

__all__ = [
    "ENVELOPE_VERSION",
    "HttpSink",
    "JsonlSink",
    "QueuedSink",
    "SenderOptions",
    "Sink",
    "SinkStats",
    "Subscriber",
    "add_sink",
    "emit",
    "flush",
    "remove_sink",
    "shutdown",
    "subscribe",
    "unsubscribe",
]

ENVELOPE_VERSION = 1

Sink = Callable[[dict[str, Any]], None]
Subscriber = Callable[
    [str, str, str, "str | None", "str | None", "str | None", "Mapping[str, Any] | None"],
    None,
]

# _sinks holds every listener (envelope sinks and subscribers): other modules test it to skip building a payload
# nobody reads. emit() hands envelopes to _envelope_sinks and raw arguments to _subscribers.
_sinks: tuple[Any, ...] = ()
_envelope_sinks: tuple[Sink, ...] = ()
_subscribers: tuple[Subscriber, ...] = ()


# The sinks and their sender are imported when first used: the HTTP sink's http.client and ssl, and the sender's
# dataclasses, would be most of `import actguard`, which emitting no event (or only to a callable) never needs.
_LAZY = {
    "HttpSink": "actguard.reporting._http",
    "JsonlSink": "actguard.reporting._jsonl",
    "QueuedSink": "actguard.reporting._queued",
    "SenderOptions": "actguard.reporting._sender",
    "SinkStats": "actguard.reporting._sender",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'actguard.reporting' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def _senders() -> list[BatchSender]:
    """Every live background sender; none (and nothing imported) when no queued sink was ever made."""
    sender = sys.modules.get("actguard.reporting._sender")
    return [] if sender is None else list(sender.all_senders())


_sinks_lock = threading.Lock()
_agent_id: str | None = None
_ids = itertools.count(1)
_id_prefix = os.urandom(6).hex() + "-"
_now = time.time


def emit(
    category: str,
    name: str,
    outcome: str,
    *,
    tool: str | None = None,
    run_id: str | None = None,
    user_id: str | None = None,
    payload: Mapping[str, Any] | None = None,
) -> None:
    """Report one decision to every sink. Never raises, never blocks; returns at once when there is no sink.

    Args:
        category: ``tool_guard``, ``custody``, ``budget`` or ``run`` (see the module docs).
        name: the guard or event name, e.g. ``rate_limit``.
        outcome: e.g. ``allowed``, ``blocked``, ``intervened``.
        tool: the guarded tool's name, if any.
        run_id: defaults to the current :class:`actguard.RunContext`'s.
        user_id: defaults to the current :class:`actguard.RunContext`'s.
        payload: JSON-friendly details (copied shallowly); never put secrets here.
    """
    if not _sinks:
        return
    for subscriber in _subscribers:
        try:  # noqa: SIM105 - contextlib.suppress costs a call per subscriber on the hot path
            subscriber(category, name, outcome, tool, run_id, user_id, payload)
        except Exception:  # an observer must never break the agent
            pass
    sinks = _envelope_sinks
    if not sinks:
        return
    try:
        if run_id is None or user_id is None:
            run = _current_run.get()
            if run is not None:
                if run_id is None:
                    run_id = run.run_id
                if user_id is None:
                    user_id = run.user_id
        event = {
            "v": 1,
            "id": f"{_id_prefix}{next(_ids):x}",
            "timestamp": _now(),
            "agent_id": _agent_id,
            "run_id": run_id,
            "user_id": user_id,
            "tool": tool,
            "category": category,
            "name": name,
            "outcome": outcome,
            "payload": dict(payload) if payload else {},
        }
    except Exception:  # a malformed payload must not break the agent
        return
    for sink in sinks:
        try:  # noqa: SIM105 - contextlib.suppress costs a call per sink on the hot path
            sink(event)
        except Exception:  # a sink must never break the agent
            pass


def add_sink(sink: Sink) -> None:
    """Send every event to ``sink`` too (a callable, an :class:`HttpSink` or a :class:`JsonlSink`)."""
    global _envelope_sinks
    with _sinks_lock:
        _envelope_sinks = (*_envelope_sinks, sink)
        _update_listeners()


def remove_sink(sink: Sink) -> None:
    """Stop sending events to ``sink`` (a queued sink keeps what it already has; :meth:`QueuedSink.close` it)."""
    global _envelope_sinks
    with _sinks_lock:
        if sink in _envelope_sinks:
            index = _envelope_sinks.index(sink)
            _envelope_sinks = _envelope_sinks[:index] + _envelope_sinks[index + 1 :]
            _update_listeners()


def subscribe(subscriber: Subscriber) -> None:
    """Call ``subscriber`` with every :func:`emit`'s arguments, before any envelope is built (see the module docs)."""
    global _subscribers
    with _sinks_lock:
        _subscribers = (*_subscribers, subscriber)
        _update_listeners()


def unsubscribe(subscriber: Subscriber) -> None:
    """Stop calling ``subscriber``; does nothing if it is not subscribed."""
    global _subscribers
    with _sinks_lock:
        if subscriber in _subscribers:
            index = _subscribers.index(subscriber)
            _subscribers = _subscribers[:index] + _subscribers[index + 1 :]
            _update_listeners()


def _update_listeners() -> None:
    """Recompute _sinks (under _sinks_lock)."""
    global _sinks
    _sinks = (*_envelope_sinks, *_subscribers)


def flush(timeout: float | None = None) -> bool:
    """Deliver what every queued sink holds, waiting up to ``timeout`` seconds for each. True if all went out."""
    return all([sender.flush(timeout) for sender in _senders()])


def shutdown(timeout: float | None = None, *, wait: bool = True) -> bool:
    """Flush every queued sink and stop its background thread; also runs at interpreter exit.

    Args:
        timeout: most seconds to wait in all; ``None`` gives each sink its own ``shutdown_timeout`` (default 5 s).
            Events still unsent when the time is up are dropped (counted in the sink's ``stats()``).
        wait: ``False`` waits for nothing (as ``timeout=0``): the spelling of actguard 0.1.15's ``shutdown(wait=)``.

    Returns:
        True when every queued event was delivered (or rejected by its receiver) in time.

    A sink that is called again after shutdown starts a new background thread.
    """
    if not wait:
        timeout = 0.0
    deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
    ok = True
    for sender in _senders():
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        ok = sender.close(remaining) and ok
    return ok


def _set_agent_id(agent_id: str | None) -> None:
    global _agent_id
    _agent_id = agent_id


def _new_id_prefix() -> None:
    global _id_prefix
    _id_prefix = os.urandom(6).hex() + "-"


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_id_prefix)  # a forked child must not repeat its parent's event ids

atexit.register(shutdown)
