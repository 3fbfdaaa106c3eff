"""The background sender behind every queued sink: bounded queue, batches, retries with capped backoff.

The caller's side (:meth:`BatchSender.put`) appends to a deque and returns: no lock, no I/O, no encoding. One daemon
thread per sender encodes events to JSON, cuts batches by count and bytes, sends a partial batch once it has waited
``flush_interval``, retries transient failures and drops a batch the receiver rejects for good.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import threading
import time
import warnings
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from actguard._durations import check_seconds
from actguard.exceptions import ActGuardWarning, ConfigError

__all__ = ["BatchSender", "Delivery", "SenderOptions", "SinkStats", "Transport"]

logger = logging.getLogger("actguard.reporting")


@dataclass(frozen=True)
class SenderOptions:
    """How a queued sink batches and retries. Every field must be > 0.

    Attributes:
        batch_size: most events in one batch.
        max_batch_bytes: most encoded bytes in one batch (a single larger event is sent alone).
        flush_interval: seconds a partial batch may wait before it is sent.
        queue_size: most events waiting; more are dropped and counted (``SinkStats.dropped_overflow``).
        timeout: seconds one delivery attempt (an HTTP request) may take.
        backoff_initial: first retry delay in seconds; it doubles per attempt (with jitter) ...
        backoff_max: ... up to this many seconds.
        shutdown_timeout: seconds :func:`actguard.shutdown` and interpreter exit wait for queued events by default.
    """

    batch_size: int = 100
    max_batch_bytes: int = 1_000_000
    flush_interval: float = 1.0
    queue_size: int = 10_000
    timeout: float = 5.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    shutdown_timeout: float = 5.0

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_batch_bytes", "queue_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name} must be a positive int, got {value!r}")
        for name in ("flush_interval", "timeout", "backoff_initial", "backoff_max", "shutdown_timeout"):
            check_seconds(getattr(self, name), name)  # a wait nothing can hold (inf, 1e12) is refused here


@dataclass(frozen=True)
class SinkStats:
    """Counters of one queued sink. ``queued`` is what waits now; the others count events since it was made."""

    queued: int
    sent: int
    retries: int
    dropped_overflow: int
    dropped_rejected: int
    dropped_shutdown: int
    dropped_unencodable: int = 0


@dataclass(frozen=True)
class Delivery:
    """What one delivery attempt came to: ``ok``, ``retry`` (transient) or ``drop`` (rejected for good)."""

    result: Literal["ok", "retry", "drop"]
    detail: str = ""
    retry_after: float | None = None


class Transport(Protocol):
    """Delivers one batch of encoded events (each one JSON object, no newline)."""

    def send(self, batch: list[bytes], timeout: float) -> Delivery: ...

    def describe(self) -> str:
        """Where events go, for warnings (must not contain secrets)."""
        ...


class _Marker:
    """Put in the queue by flush/close: set once every event queued before it has been dealt with."""

    __slots__ = ("abandoned_before", "done", "ok", "stop")

    def __init__(self, stop: bool, abandoned_before: int) -> None:
        self.done = threading.Event()
        self.stop = stop
        self.abandoned_before = abandoned_before  # the sender's abandoned count when the marker was queued
        self.ok = False

    def reached(self, abandoned_now: int) -> None:
        """Everything ahead was dealt with: delivered or rejected, unless some was abandoned at a deadline."""
        self.ok = abandoned_now == self.abandoned_before
        self.done.set()


def encode(event: dict[str, Any]) -> bytes | None:
    """One envelope as compact JSON; values JSON cannot hold become their ``str``. A payload that cannot be encoded
    at all (its ``str`` raises, say) is replaced by its ``repr``; None when even that fails (the event is dropped)."""
    try:
        return json.dumps(event, separators=(",", ":"), default=str, allow_nan=False).encode()
    except Exception:
        pass
    try:
        safe = dict(event, payload={"unencodable_payload": repr(event.get("payload"))[:1000]})
        return json.dumps(safe, separators=(",", ":"), default=str).encode()
    except Exception:
        return None


_senders: weakref.WeakSet[BatchSender] = weakref.WeakSet()


class BatchSender:
    """A bounded queue drained by one daemon thread into a :class:`Transport`.

    Args:
        transport: where batches go.
        options: batching, queueing and retry settings.
        name: thread name suffix, for debugging.
    """

    def __init__(self, transport: Transport, options: SenderOptions, name: str = "sink") -> None:
        self._transport = transport
        self._opts = options
        self._name = name
        self._queue_size = options.queue_size
        self._batch_size = options.batch_size
        self._reset()
        _senders.add(self)

    def _reset(self) -> None:
        self._q: deque[dict[str, Any] | _Marker] = deque()
        self._wake = threading.Event()
        self._interrupt = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._deadline: float | None = None
        self._sent = 0
        self._retries = 0
        self._overflow = 0
        self._overflow_warned = False
        self._rejected = 0
        self._rejected_warned: set[str] = set()
        self._abandoned = 0
        self._unencodable = 0
        self._inflight = 0

    # -- the caller's side -------------------------------------------------------------------------------------

    def put(self, event: dict[str, Any]) -> None:
        """Queue ``event``; never blocks, never raises. Over ``queue_size`` the event is dropped and counted."""
        q = self._q
        if len(q) >= self._queue_size:
            with self._lock:
                self._overflow += 1
            return
        q.append(event)
        if self._thread is None:
            self._start()
        if len(q) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def stats(self) -> SinkStats:
        """A snapshot of the counters."""
        queued = sum(1 for item in list(self._q) if not isinstance(item, _Marker))
        return SinkStats(
            queued=queued,
            sent=self._sent,
            retries=self._retries,
            dropped_overflow=self._overflow,
            dropped_rejected=self._rejected,
            dropped_shutdown=self._abandoned,
            dropped_unencodable=self._unencodable,
        )

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued so far. True when it was delivered (or rejected by the receiver) in time."""
        return self._wait_marker(_Marker(False, self._abandoned), timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Flush, then stop the thread (a later :meth:`put` starts it again). Events still unsent at the deadline are
        dropped and counted. True when everything queued was dealt with in time."""
        if timeout is None:
            timeout = self._opts.shutdown_timeout
        marker = _Marker(True, self._abandoned)
        if self._wait_marker(marker, timeout):
            return True
        # Logged from here, not from the sender: at interpreter exit nothing runs after this returns.
        lost = self._abandoned - marker.abandoned_before + self._inflight + self.stats().queued
        logger.warning(
            "actguard: %d event(s) for %s were not delivered before the shutdown deadline (%gs)",
            lost,
            self._transport.describe(),
            timeout,
        )
        return False

    def _wait_marker(self, marker: _Marker, timeout: float | None) -> bool:
        if self._thread is None and not self._q:
            return True
        if marker.stop and timeout is not None:
            self._deadline = time.monotonic() + timeout  # the sender gives up on what is left at the deadline
        self._q.append(marker)
        if self._thread is None and not self._start():
            # No thread can be started (the interpreter is shutting down): send from here, within a deadline.
            if self._deadline is None:
                self._deadline = time.monotonic() + (self._opts.shutdown_timeout if timeout is None else timeout)
            try:
                self._drain_here(marker)
            finally:
                self._deadline = None
        self._wake.set()
        self._interrupt.set()
        return marker.done.wait(timeout) and marker.ok

    def _start(self) -> bool:
        with self._lock:
            if self._thread is not None:
                return True
            thread = threading.Thread(target=self._run, name=f"actguard-{self._name}", daemon=True)
            try:
                thread.start()
            except RuntimeError:  # "can't create new thread at interpreter shutdown"
                return False
            self._thread = thread
            return True

    def _drain_here(self, marker: _Marker) -> None:
        pending: list[bytes] = []
        while self._q:
            item = self._q.popleft()
            if isinstance(item, _Marker):
                self._send(pending)
                pending = []
                self._reach(item)
                if item is marker:
                    return
            elif self._past_deadline():
                self._abandoned += 1
            else:
                data = encode(item)
                if data is None:
                    self._unencodable += 1
                    continue
                pending.append(data)
                if len(pending) >= self._batch_size:
                    self._send(pending)
                    pending = []

    # -- the sender thread --------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException:  # pragma: no cover - a bug here must not take the process down
            logger.exception("actguard event sender %s stopped", self._name)
            with self._lock:
                self._thread = None

    def _loop(self) -> None:
        opts = self._opts
        pending: list[bytes] = []
        pending_bytes = 0
        next_tick = time.monotonic() + opts.flush_interval
        while True:
            if len(self._q) < self._batch_size:
                wait = next_tick - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
            self._wake.clear()
            if time.monotonic() >= next_tick:  # the interval is up: a partial batch goes out too
                tick = True
                next_tick = time.monotonic() + opts.flush_interval
            else:
                tick = False
            self._warn_overflow()
            while self._q:
                item = self._q.popleft()
                if isinstance(item, _Marker):
                    self._send(pending)
                    pending, pending_bytes = [], 0
                    if item.stop:
                        with self._lock:
                            self._thread = None
                            self._deadline = None
                        self._reach(item)
                        return
                    self._reach(item)
                    continue
                if self._past_deadline():  # shutting down and out of time: count it, don't encode it
                    self._abandoned += 1
                    continue
                data = encode(item)
                if data is None:  # dropped and counted; the rest go on
                    self._unencodable += 1
                    continue
                if pending and pending_bytes + len(data) > opts.max_batch_bytes:
                    self._send(pending)
                    pending, pending_bytes = [], 0
                pending.append(data)
                pending_bytes += len(data) + 1
                if len(pending) >= opts.batch_size:
                    self._send(pending)
                    pending, pending_bytes = [], 0
            if pending and tick:
                self._send(pending)
                pending, pending_bytes = [], 0

    def _send(self, batch: list[bytes]) -> None:
        """Deliver ``batch``, retrying transient failures until it goes through, is rejected, or the deadline."""
        if not batch:
            return
        self._inflight = len(batch)
        try:
            self._deliver(batch)
        finally:
            self._inflight = 0

    def _deliver(self, batch: list[bytes]) -> None:
        opts = self._opts
        attempt = 0
        while True:
            deadline = self._deadline
            if deadline is not None and time.monotonic() >= deadline:
                self._abandoned += len(batch)
                return
            timeout = opts.timeout if deadline is None else max(0.001, min(opts.timeout, deadline - time.monotonic()))
            try:
                outcome = self._transport.send(batch, timeout)
            except Exception as exc:  # a transport bug: treat as transient
                outcome = Delivery("retry", f"{type(exc).__name__}: {exc}")
            if outcome.result == "ok":
                self._sent += len(batch)
                return
            if outcome.result == "drop":
                self._rejected += len(batch)
                self._warn_once(
                    outcome.detail,
                    f"actguard dropped {len(batch)} event(s): {self._transport.describe()} rejected them "
                    f"({outcome.detail}); later rejections for the same reason are counted, not warned",
                )
                return
            attempt += 1
            self._retries += 1
            delay = min(opts.backoff_max, opts.backoff_initial * 2 ** min(attempt - 1, 30))
            delay *= random.uniform(0.5, 1.0)
            if outcome.retry_after is not None:
                delay = min(opts.backoff_max, max(delay, outcome.retry_after))
            logger.debug(
                "actguard: delivery to %s failed (%s); retry %d in %.3fs",
                self._transport.describe(),
                outcome.detail,
                attempt,
                delay,
            )
            deadline = self._deadline
            if deadline is not None:
                delay = min(delay, max(0.0, deadline - time.monotonic()))
            self._interrupt.wait(delay)
            self._interrupt.clear()

    def _past_deadline(self) -> bool:
        deadline = self._deadline
        return deadline is not None and time.monotonic() >= deadline

    def _reach(self, marker: _Marker) -> None:
        marker.reached(self._abandoned)

    def _warn_overflow(self) -> None:
        if self._overflow and not self._overflow_warned:
            self._overflow_warned = True
            self._warn(
                f"actguard event queue for {self._transport.describe()} is full (queue_size={self._queue_size}); "
                "events are being dropped and counted (see the sink's stats()); this is warned once"
            )

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._rejected_warned:
            self._rejected_warned.add(key)
            self._warn(message)

    @staticmethod
    def _warn(message: str) -> None:
        logger.warning("%s", message)
        with contextlib.suppress(Exception):  # warnings turned into errors must not kill the sender
            warnings.warn(message, ActGuardWarning, stacklevel=2)


def _after_fork_in_child() -> None:
    # The sender threads did not survive the fork and the queued events belong to the parent (which sends them).
    for sender in list(_senders):
        sender._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def all_senders() -> list[BatchSender]:
    """Every live sender (for :func:`actguard.shutdown` and interpreter exit)."""
    return list(_senders)
