"""The JSONL file sink: one envelope per line, appended from a background thread."""

from __future__ import annotations

import os

from actguard.exceptions import ConfigError
from actguard.reporting._queued import QueuedSink
from actguard.reporting._sender import Delivery, SenderOptions

__all__ = ["JsonlSink"]


class _FileTransport:
    def __init__(self, path: str) -> None:
        self._path = path

    def describe(self) -> str:
        return f"the events file {self._path!r}"

    def send(self, batch: list[bytes], timeout: float) -> Delivery:
        try:
            with open(self._path, "ab") as fh:
                fh.write(b"\n".join(batch) + b"\n")
        except OSError as exc:
            return Delivery("drop", f"{type(exc).__name__}: {exc.strerror or exc}")
        return Delivery("ok")


class JsonlSink(QueuedSink):
    """Appends every event to a file, one JSON envelope per line (what ``actguard events FILE`` reads).

    Writes happen in a background thread, in batches; a write that fails (disk full, permissions) drops its batch
    with one :class:`~actguard.ActGuardWarning`. :func:`actguard.configure` makes one from ``events_file``.

    Args:
        path: the file to append to; its directory must exist.
        options: batching and queueing settings (``flush_interval`` is how long a line may wait to be written).
    """

    def __init__(self, path: str | os.PathLike[str], *, options: SenderOptions | None = None) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise ConfigError(f"events_file must be a file path (str or os.PathLike), got {type(path).__name__}")
        full = os.path.abspath(os.fspath(path))
        if not os.path.isdir(os.path.dirname(full)):
            raise ConfigError(
                f"events_file {os.fspath(path)!r}: the directory {os.path.dirname(full)!r} does not exist"
            )
        if os.path.isdir(full):
            raise ConfigError(f"events_file {os.fspath(path)!r} is a directory, not a file")
        super().__init__(_FileTransport(full), options, name="jsonl")
