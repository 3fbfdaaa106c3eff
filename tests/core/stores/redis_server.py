"""Start and stop a private ``redis-server`` on a free loopback port (used by the store tests and the benchmark).

No persistence (``--save "" --appendonly no``); :meth:`RedisServer.stop` and :meth:`RedisServer.start` again on the
same port let tests take the store away and bring it back.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile

__all__ = ["REQUIRE_ENV", "RedisServer", "missing_reason"]

REQUIRE_ENV = "ACTGUARD_REQUIRE_REDIS"


def missing_reason() -> str | None:
    """Why the Redis tests cannot run here, or None when ``redis-server`` is on PATH and redis-py installed."""
    if shutil.which("redis-server") is None:
        return (
            "redis-server not found on PATH: the Redis store tests start their own server "
            f"(install Redis, e.g. `apt-get install redis-server`; {REQUIRE_ENV}=1 turns this skip into a failure)"
        )
    if importlib.util.find_spec("redis") is None:
        return (
            f'redis-py is not installed (pip install "actguard[redis]"; {REQUIRE_ENV}=1 turns this skip into a failure)'
        )
    return None


def free_port(below: int = 65536) -> int:
    """A free loopback port under ``below`` (a cluster node also needs its port + 10000)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port < below:
            return port


class RedisServer:
    """One redis-server process on 127.0.0.1:<port>."""

    def __init__(self, port: int | None = None, *, cluster: bool = False) -> None:
        self.port = port or free_port(below=55536 if cluster else 65536)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.mkdtemp(prefix="actguard-redis-")
        self._extra = (
            ["--cluster-enabled", "yes", "--cluster-config-file", f"{self._dir}/nodes.conf"] if cluster else []
        )
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        """Start the server and return once it accepts connections (it says so on stdout)."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(missing_reason())
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir,
                "--loglevel",
                "notice",
                *self._extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # blocks on the server's own output: no polling, no sleeping
            seen.append(line.decode(errors="replace"))
            if b"Ready to accept connections" in line:
                break
        else:
            proc.wait()
            proc.stdout.close()
            raise RuntimeError(f"redis-server on port {self.port} did not start:\n{''.join(seen)}")
        proc.stdout.close()  # stop reading; the server logs to a closed pipe harmlessly at this loglevel
        self._proc = proc
        return self

    def stop(self) -> None:
        """Stop the server and wait for it to exit."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
            proc.terminate()
            proc.wait(timeout=10)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, commands wait unanswered, as in a long stall."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server run again (SIGCONT): it then runs whatever was sent meanwhile."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover - manual check
    with RedisServer() as server:
        print(server.url, os.getpid())
