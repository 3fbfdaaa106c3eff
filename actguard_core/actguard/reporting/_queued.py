"""Base of the sinks that deliver from a background thread (HTTP gateway, JSONL file)."""

from __future__ import annotations

from typing import Any

from actguard.reporting._sender import BatchSender, SenderOptions, SinkStats, Transport

__all__ = ["QueuedSink"]


class QueuedSink:
    """A sink that queues each event and delivers it from a background thread.

    Calling the sink (what :func:`actguard.reporting.emit` does) only appends to a bounded queue.
    """

    def __init__(self, transport: Transport, options: SenderOptions | None, name: str) -> None:
        self._transport = transport
        self._sender = BatchSender(transport, options or SenderOptions(), name=name)

    def __call__(self, event: dict[str, Any]) -> None:
        self._sender.put(event)

    def flush(self, timeout: float | None = None) -> bool:
        """Deliver everything queued so far; True if it was dealt with (sent or rejected) within ``timeout``."""
        return self._sender.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Flush and stop the background thread (``timeout`` defaults to the options' ``shutdown_timeout``).

        Events still unsent at the deadline are dropped and counted. The sink keeps working if called again.
        """
        return self._sender.close(timeout)

    def stats(self) -> SinkStats:
        """Counters: queued, sent, retries and drops by cause."""
        return self._sender.stats()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._transport.describe()})"
