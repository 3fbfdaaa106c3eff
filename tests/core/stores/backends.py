"""What the `backend` fixture (tests/core/conftest.py) yields; a RedisStore whose server time follows a FakeClock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from redis_server import REQUIRE_ENV, missing_reason

import actguard
from actguard.testing import FakeClock

__all__ = ["Backend", "make_redis_store", "require_redis"]


@dataclass
class Backend:
    """One store (memory, SQLite or Redis) and how to move its clock forward."""

    name: str
    store: actguard.Store
    advance: Callable[[float], None]


def require_redis() -> None:
    """Skip (or, with ACTGUARD_REQUIRE_REDIS=1, fail) when redis-server or redis-py is not installed."""
    reason = missing_reason()
    if reason is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


def make_redis_store(url: str, clock: FakeClock | None = None, **kwargs: object) -> actguard.RedisStore:
    """A RedisStore with a fresh prefix; with ``clock``, server time follows the FakeClock's advances."""
    store = actguard.RedisStore(url, prefix=f"t{uuid.uuid4().hex[:12]}", **kwargs)  # type: ignore[arg-type]
    if clock is not None:
        start = clock.wall()
        store._time_offset = lambda: clock.wall() - start
    return store
