"""What every guard decorator keeps: name, docstring, signature, sync/async nature; and methods work."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pytest

import actguard
from actguard import MemoryStore, RateLimitExceeded, RunContext

GUARDS: dict[str, Callable[[], Callable[[Any], Any]]] = {
    "rate_limit": lambda: actguard.rate_limit(max_calls=5, period=60, scope="user_id"),
    "circuit_breaker": lambda: actguard.circuit_breaker(name="wrap", max_fails=3, reset_timeout=60),
    "timeout": lambda: actguard.timeout(5),
    "max_attempts": lambda: actguard.max_attempts(calls=3),
    "idempotent": lambda: actguard.idempotent(ttl_s=60),
    "idempotent_bare": lambda: actguard.idempotent,
    "tool": lambda: actguard.tool(rate_limit={"max_calls": 5, "period": 60}, max_attempts=3, timeout=5),
}


@pytest.mark.parametrize("guard", GUARDS)
def test_sync_function_metadata_and_call(guard: str, store: MemoryStore) -> None:
    def send(user_id: str, amount: int = 1, *, idempotency_key: str = "k") -> str:
        """Send money."""
        return f"{user_id}:{amount}"

    wrapped = GUARDS[guard]()(send)
    assert (wrapped.__name__, wrapped.__doc__, wrapped.__module__) == ("send", "Send money.", __name__)
    assert inspect.signature(wrapped) == inspect.signature(send)
    assert inspect.unwrap(wrapped) is send
    assert not inspect.iscoroutinefunction(wrapped)
    with RunContext():
        assert wrapped("alice", 2, idempotency_key="k1") == "alice:2"


@pytest.mark.parametrize("guard", GUARDS)
async def test_async_function_metadata_and_call(guard: str, store: MemoryStore) -> None:
    async def send(user_id: str, amount: int = 1, *, idempotency_key: str = "k") -> str:
        """Send money."""
        await asyncio.sleep(0)
        return f"{user_id}:{amount}"

    wrapped = GUARDS[guard]()(send)
    assert (wrapped.__name__, wrapped.__doc__) == ("send", "Send money.")
    assert inspect.signature(wrapped) == inspect.signature(send)
    assert inspect.iscoroutinefunction(wrapped)
    async with RunContext():
        assert await wrapped("alice", idempotency_key="k1") == "alice:1"


def test_methods_keep_self_out_of_the_scope(store: MemoryStore) -> None:
    class Mailer:
        @actguard.rate_limit(max_calls=1, period=60, scope="user_id")
        def send(self, user_id: str) -> str:
            return user_id

    a, b = Mailer(), Mailer()
    assert a.send("alice") == "alice"
    assert b.send("bob") == "bob"
    with pytest.raises(RateLimitExceeded):
        b.send(user_id="alice")  # one method, one bucket per user across instances

    class Client:
        def fetch(self, idempotency_key: str) -> str:
            return idempotency_key

    bound = actguard.idempotent(Client().fetch)  # a bound method: `self` is already supplied
    with RunContext():
        assert bound("k") == "k"


async def test_callable_object_with_async_call_is_awaited(store: MemoryStore) -> None:
    class Fetch:
        """Fetch a page."""

        async def __call__(self, url: str) -> str:
            await asyncio.sleep(0)
            return url

    guarded = actguard.circuit_breaker(name="obj")(Fetch())
    assert inspect.iscoroutinefunction(guarded)
    assert await guarded("u") == "u"
