"""One Redis connection per thread, for the sync client :class:`actguard.RedisStore` builds from a URL.

redis-py's own path for one command (``execute_command``, then a check-out and check-in of a pooled connection: a
lock, a poll for unread data, metrics hooks, a retry loop that actguard turns off) costs about ten microseconds of
client time, a third of a loopback round trip, on every guard check. A connection only its thread uses needs none of
it, as long as it is never reused while a reply is still owed: every failure mid-command disconnects it (redis-py's
connection does so itself for socket errors and timeouts; this module for anything else, e.g. a KeyboardInterrupt
between sending and reading), and the next command reconnects.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any


class _Owned:
    """A thread's connection. Disconnected as soon as the thread ends: the thread's slot of a ``threading.local``
    is dropped then, and this object, in no reference cycle, goes with it (the connection itself may sit in one,
    and the garbage collector would find its socket still open)."""

    __slots__ = ("connection", "pid")

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.pid = os.getpid()  # a forked child makes its own: this one's socket is the parent's

    def __del__(self) -> None:
        self.connection.disconnect()  # redis-py shuts the socket down only in the process that opened it


class _PerThread(threading.local):
    owned: _Owned | None = None


class ThreadConnections:
    """Sends a command on the calling thread's own connection to the server of ``pool`` (a redis-py pool)."""

    def __init__(self, pool: Any, exceptions: Any) -> None:
        self._pool = pool
        self._error_reply = exceptions.ResponseError  # a whole reply was read: the connection is still in step
        self._dead = (exceptions.ConnectionError, exceptions.TimeoutError, OSError)
        self._local = _PerThread()
        self._all: weakref.WeakSet[Any] = weakref.WeakSet()  # for close()

    def execute(self, *args: Any) -> Any:
        owned = self._local.owned
        if owned is None or owned.pid != os.getpid():
            owned = self._connect()
        connection = owned.connection
        connection.connect()  # a no-op when connected; a failure to connect raises, as a pool check-out does
        try:  # and as there: unread bytes or a socket the server closed mean a fresh connection for this command
            if connection.can_read():
                connection.disconnect()
        except self._dead:
            connection.disconnect()
        try:
            connection.send_packed_command(connection.pack_command(*args))
            return connection.read_response()
        except self._error_reply:
            raise
        except BaseException:
            connection.disconnect()  # a reply may still be on its way: never read it as the next command's
            raise

    def _connect(self) -> _Owned:
        connection = self._pool.connection_class(**self._pool.connection_kwargs)
        self._all.add(connection)
        owned = self._local.owned = _Owned(connection)
        return owned

    def close(self) -> None:
        """Disconnect every thread's connection (a thread that calls again reconnects)."""
        for connection in list(self._all):
            connection.disconnect()
