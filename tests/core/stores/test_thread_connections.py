"""A RedisStore built from a URL runs its scripts on each thread's own connection: exact under threads, never reads
a reply owed to an interrupted call, works in a forked child, closes everything, keeps no connection of a thread
that ended."""

from __future__ import annotations

import gc
import os
import threading
import warnings
from typing import Any

import pytest

import actguard


def _clients(redis_server: Any) -> int:
    import redis

    with redis.Redis.from_url(redis_server.url) as admin:
        return int(admin.info("clients")["connected_clients"]) - 1  # not counting this one


def test_threads_each_use_their_own_connection_and_counts_stay_exact(redis_server: Any) -> None:
    store = actguard.RedisStore(redis_server.url, prefix="tc-threads")
    barrier = threading.Barrier(8, timeout=30)
    admitted: list[int] = []

    def work() -> None:
        barrier.wait()
        admitted.extend(1 for _ in range(50) if store.hit_window("k", 300, 60).allowed)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(admitted) == 300  # 400 calls, limit 300: exact
    assert store.hit_window("k", 300, 60).count == 300
    store.close()


def test_a_call_interrupted_between_send_and_reply_never_hands_its_reply_to_the_next(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.connection import Connection

    store = actguard.RedisStore(redis_server.url, prefix="tc-interrupt")
    assert store.incr("a", 60) == 1
    real_read = Connection.read_response

    def interrupted(self: Any, *args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(Connection, "read_response", real_read)
        raise KeyboardInterrupt  # e.g. Ctrl-C after the command went out, before its reply was read

    monkeypatch.setattr(Connection, "read_response", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.incr("a", 60)  # ran on the server (a = 2); its reply "2" was never read
    assert store.incr("b", 60) == 1  # this call's own reply, not the stale "2"
    assert store.incr("a", 60) == 3
    store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_uses_its_own_connection(redis_server: Any) -> None:
    store = actguard.RedisStore(redis_server.url, prefix="tc-fork")
    assert store.incr("n", 60) == 1  # the parent's thread now holds a connection, which a child inherits
    read, write = os.pipe()
    with warnings.catch_warnings():  # 3.12+ warns on fork() with other threads alive (earlier tests' executors)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child calls while the parent does: on a shared socket their replies would cross
        try:
            seen = [store.incr("n", 60) for _ in range(300)]
            os.write(write, " ".join(map(str, seen)).encode())
        finally:
            os._exit(0)
    os.close(write)
    parent_saw = [store.incr("n", 60) for _ in range(300)]
    with os.fdopen(read, "rb") as pipe:
        child_saw = [int(n) for n in pipe.read().split()]
    os.waitpid(pid, 0)
    assert len(child_saw) == 300
    assert sorted(parent_saw + child_saw) == list(range(2, 602))  # every call got its own reply, none lost
    assert parent_saw == sorted(parent_saw) and child_saw == sorted(child_saw)
    store.close()


def test_close_disconnects_every_thread_and_calls_after_it_reconnect(redis_server: Any) -> None:
    store = actguard.RedisStore(redis_server.url, prefix="tc-close")
    ready, done = threading.Barrier(4, timeout=30), threading.Event()

    def hold() -> None:
        store.incr("n", 60)
        ready.wait()
        done.wait(30)  # the thread stays alive, so only close() can drop its connection

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for thread in threads:
        thread.start()
    ready.wait()
    assert _clients(redis_server) >= 3
    store.close()
    assert _clients(redis_server) == 0
    done.set()
    for thread in threads:
        thread.join(30)
    assert store.incr("n", 60) == 4


def test_a_thread_that_ended_leaves_no_connection(redis_server: Any) -> None:
    store = actguard.RedisStore(redis_server.url, prefix="tc-ended")
    for _ in range(20):  # twenty short-lived threads, one after another
        thread = threading.Thread(target=store.incr, args=("n", 60))
        thread.start()
        thread.join(30)
    gc.collect()
    assert store.incr("n", 60) == 21
    assert _clients(redis_server) <= 2  # this thread's, and at most one still being torn down
    store.close()


def test_the_first_call_after_a_server_restart_succeeds_on_every_thread(own_redis_server: Any) -> None:
    store = actguard.RedisStore(own_redis_server.url, prefix="tc-restart")
    assert store.incr("n", 60) == 1  # this thread's connection is open...
    own_redis_server.stop()
    own_redis_server.start()  # ...and now closed by the server: it is noticed before the next command is sent
    assert store.incr("n", 60) == 1  # a fresh server: no StoreUnavailable for the call that finds the dead socket
    assert store.incr("n", 60) == 2
    store.close()
