"""Redis store: guard state shared by a fleet of processes and machines.

Every check is one round trip: a Lua script (``register_script``, sent as EVALSHA) that reads the server's clock
(``TIME``) and decides atomically on the server. Keys expire by themselves. Each operation touches one key, laid out
as ``<prefix>:{<kind>:<key>}``: the hash tag keeps everything of one logical key in one Redis Cluster slot while
different keys spread over the cluster.

Needs redis-py: ``pip install "actguard[redis]"``. ``import actguard`` never imports it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from actguard._durations import check_seconds
from actguard.exceptions import ConfigError
from actguard.stores import _lua
from actguard.stores._base import (
    BreakerDecision,
    BreakerSnapshot,
    Claim,
    LoopStep,
    Reservation,
    SpendTotals,
    Store,
    WindowDecision,
    parse_fail_open,
)
from actguard.stores._codec import Serializer, make_codec, wire, wire_all
from actguard.stores._thread_connections import ThreadConnections

if TYPE_CHECKING:
    import redis as redis_py
    import redis.asyncio as redis_asyncio
    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
    from redis.cluster import RedisCluster

__all__ = ["RedisStore"]

_INSTALL_HINT = 'RedisStore needs redis-py: pip install "actguard[redis]"'
_BREAKER_IDLE = 86_400.0  # a circuit untouched this long after its last change (plus reset_timeout) is forgotten
_LOOP_RECENT = 32  # recent calls kept per run (loop_observe's keep is at most this)
_MAX_FACTS = 100_000  # facts kept per namespace; beyond it the soonest-expiring go first
_SCRIPTS = {
    "hit_window": _lua.HIT_WINDOW,
    "breaker_acquire": _lua.BREAKER_ACQUIRE,
    "breaker_record": _lua.BREAKER_RECORD,
    "breaker_snapshot": _lua.BREAKER_SNAPSHOT,
    "incr": _lua.INCR,
    "idem_claim": _lua.IDEM_CLAIM,
    "idem_set": _lua.IDEM_SET,
    "facts_add": _lua.FACTS_ADD,
    "facts_missing": _lua.FACTS_MISSING,
    "spend_add": _lua.SPEND_ADD,
    "spend_get": _lua.SPEND_GET,
    "spend_reserve": _lua.SPEND_RESERVE,
    "spend_settle": _lua.SPEND_SETTLE,
    "loop_observe": _lua.LOOP_OBSERVE,
}
_NUMKEYS = (b"0", b"1", b"2", b"3")  # EVALSHA's key count, pre-encoded
_GRANTED = (b"1", "1")  # as bytes, or as str from a client made with decode_responses=True
_SETTLED_MAX = 10_000  # settled op ids remembered per spend key
_SETTLE_TRIM_EVERY = 64  # settles per key and process between trims of its settled-id set
_SETTLED_KEYS_TRACKED = 10_000  # spend keys whose settle count this process keeps


def _num(value: float) -> str:
    """A number as an exact script argument (``repr`` of a float round-trips)."""
    return repr(float(value))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fact(kind: str, value: str) -> str:
    return f"{len(kind)}:{kind}{value}"  # length-prefixed: no separator a kind could contain


def _import_redis() -> Any:
    try:
        import redis
        import redis.asyncio
    except ImportError as exc:  # pragma: no cover - exercised in an environment without redis-py
        raise ImportError(_INSTALL_HINT) from exc
    return redis


class _Bound:
    """One client, its registered scripts, and their SHA1s already encoded (the driver passes bytes through).

    ``direct`` is set for the sync client actguard builds from a URL: scripts then run on each thread's own
    connection (see ``_thread_connections``) rather than through the client's ``execute_command``.
    """

    __slots__ = ("client", "direct", "lifetime", "scripts", "shas")

    def __init__(self, client: Any, direct: ThreadConnections | None = None) -> None:
        self.client = client
        self.direct = direct
        self.scripts = {name: client.register_script(src) for name, src in _SCRIPTS.items()}
        self.shas = {name: script.sha.encode() for name, script in self.scripts.items()}
        self.lifetime: AsyncGenerator[None, None] | None = None

    def close(self) -> None:
        """Close a sync client's connections, its threads' own included."""
        if self.direct is not None:
            self.direct.close()
        self.client.close()


async def _close_with_loop(client: Any, forget: Callable[[], object]) -> AsyncGenerator[None, None]:
    """Suspended for the life of an event loop: ``asyncio.run`` (and every runner) finalises pending async
    generators before closing its loop, which closes the client on its own loop instead of leaking its sockets."""
    try:
        yield
    finally:
        forget()
        await client.aclose()


class RedisStore(Store):
    """Keeps guard state in Redis (a server, Sentinel-managed primary, or Redis Cluster; Redis >= 6.2).

    Args:
        url_or_client: a URL (``"redis://localhost:6379/0"``, ``"rediss://..."``), or a redis-py client:
            ``redis.Redis`` / ``redis.cluster.RedisCluster`` (sync), or ``redis.asyncio.Redis`` /
            ``redis.asyncio.cluster.RedisCluster`` (async). From a URL the store makes a sync client and one async
            client per event loop, with ``timeout`` and no client-side retry: a command that timed out may still
            run when Redis resumes, so sending it again could count one call twice. (A connection the server
            closed is noticed before a command is sent, so a restarted server is picked up by the next call.)
            Its sync calls run on one connection per thread (closed when the thread ends, or by :meth:`close`),
            a third cheaper than redis-py's pooled path; redis-py's own command metrics do not see them.
            A client you pass is used as configured: turn its retries off (``retry=Retry(NoBackoff(), 0)``,
            redis-py >= 6 retries 3 times by default) for the same guarantee.
        prefix: namespace of every key (one per application sharing a Redis); no ``{`` or ``}``.
        async_client: the async client for the ``a...`` operations when ``url_or_client`` is a sync client.
            Without one, the async operations run the sync client in a worker thread.
        fail_open: guard kinds that answer "allowed" when Redis cannot be reached: ``False`` (default: fail
            closed), ``True`` (rate limits and circuit breakers), or a collection of ``"rate_limit"``,
            ``"circuit_breaker"``. Budgets, idempotency, max_attempts and facts always fail closed.
        serializer: how idempotent results are stored: ``"json"`` (default) or ``"pickle"`` (trusted writers only);
            see :mod:`actguard.stores._codec`.
        timeout: socket connect and read timeout, in seconds, of the clients made from a URL.

    Raises:
        ImportError: redis-py is not installed (``pip install "actguard[redis]"``).
        ConfigError: for invalid arguments.

    Example::

        import actguard
        actguard.set_default_store(actguard.RedisStore("redis://redis.internal:6379/0", prefix="billing-agent"))
    """

    backend = "redis"

    def __init__(
        self,
        url_or_client: str | redis_py.Redis | RedisCluster | redis_asyncio.Redis | AsyncRedisCluster,
        *,
        prefix: str = "actguard",
        async_client: redis_asyncio.Redis | AsyncRedisCluster | None = None,
        fail_open: bool | Iterable[str] = False,
        serializer: Serializer = "json",
        timeout: float = 2.0,
    ) -> None:
        redis = _import_redis()
        if not isinstance(prefix, str) or not prefix or "{" in prefix or "}" in prefix:
            raise ConfigError(f"RedisStore(prefix=...) must be a non-empty str without '{{' or '}}', got {prefix!r}")
        check_seconds(timeout, "RedisStore(timeout=...)")
        self.prefix = prefix
        self.timeout = float(timeout)
        self.fail_open = parse_fail_open(fail_open, "RedisStore(fail_open=...)")
        self._codec = make_codec(serializer, "RedisStore")
        self._errors: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)
        self._noscript: type[BaseException] = redis.exceptions.NoScriptError
        self._settles: dict[str, int] = {}  # settles per spend key in this process (see _trim_due)
        self._time_offset: Callable[[], float] | None = None  # actguard's tests move server time forward with this
        self._url: str | None = None
        self._sync: _Bound | None = None
        self._async: _Bound | None = None
        self._async_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Bound] = weakref.WeakKeyDictionary()
        sync_types = (redis.Redis, redis.cluster.RedisCluster)
        async_types = (redis.asyncio.Redis, redis.asyncio.cluster.RedisCluster)
        if isinstance(url_or_client, str):
            self._url = url_or_client
            client = redis.Redis.from_url(url_or_client, **self._client_options(redis.retry.Retry))
            self._sync = _Bound(client, ThreadConnections(client.connection_pool, redis.exceptions))
        elif isinstance(url_or_client, sync_types):
            self._sync = _Bound(url_or_client)
        elif isinstance(url_or_client, async_types):
            self._async = _Bound(url_or_client)
        else:
            raise ConfigError(
                "RedisStore(url_or_client=...) must be a redis URL or a redis-py client (redis.Redis, "
                f"redis.asyncio.Redis, or their cluster variants), got {url_or_client!r}"
            )
        if async_client is not None:
            if not isinstance(async_client, async_types):
                raise ConfigError(f"RedisStore(async_client=...) must be a redis.asyncio client, got {async_client!r}")
            self._async = _Bound(async_client)

    def __repr__(self) -> str:
        where = self._url if self._url is not None else "client"
        return f"RedisStore({where!r}, prefix={self.prefix!r})"

    def _client_options(self, retry_class: Any) -> dict[str, Any]:
        from redis.backoff import NoBackoff

        # No retry once a command may have been sent: a stalled server runs it when it resumes, and a retry would
        # run it a second time (one rate-limit hit, breaker failure or attempt counted twice, a claim wedged).
        return {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "retry": retry_class(NoBackoff(), 0),
            "retry_on_timeout": False,
        }

    def _key(self, kind: str, key: str) -> Any:
        return wire(f"{self.prefix}:{{{kind}:{key}}}")  # any str, lone surrogates included

    def _offset(self) -> str | bytes:
        return b"0" if self._time_offset is None else repr(float(self._time_offset()))

    # -- plumbing -----------------------------------------------------------------------------------------------
    def _sync_bound(self) -> _Bound:
        if self._sync is None:
            raise ConfigError(
                "this RedisStore was given only an async client; sync guards need RedisStore(<sync client or URL>, "
                "async_client=...)"
            )
        return self._sync

    async def _async_bound(self) -> _Bound | None:
        """The async client for the running loop, or None to run the sync client in a thread."""
        if self._async is not None:
            return self._async
        if self._url is None:
            return None
        loop = asyncio.get_running_loop()
        bound = self._async_by_loop.get(loop)
        if bound is None:
            import redis.asyncio
            import redis.asyncio.retry

            client = redis.asyncio.Redis.from_url(self._url, **self._client_options(redis.asyncio.retry.Retry))
            bound = self._async_by_loop[loop] = _Bound(client)
            bound.lifetime = _close_with_loop(client, lambda: self._async_by_loop.pop(loop, None))
            await anext(bound.lifetime)  # registers it with this loop's shutdown
        return bound

    def _run(self, script: str, key: str | bytes | list[Any], *args: Any) -> Any:
        """Run one script (EVALSHA; loaded on NOSCRIPT, e.g. after a server restart: a NOSCRIPT reply means it did
        not run, so running it then is not a repeat); driver errors propagate."""
        bound = self._sync_bound()
        keys = [key] if not isinstance(key, list) else key
        args = wire_all(args)
        try:
            if bound.direct is not None:
                return bound.direct.execute(
                    b"EVALSHA", bound.shas[script], _NUMKEYS[len(keys)], *keys, self._offset(), *args
                )
            return bound.client.evalsha(bound.shas[script], _NUMKEYS[len(keys)], *keys, self._offset(), *args)
        except self._noscript:
            return bound.scripts[script](keys=keys, args=[self._offset(), *args])

    async def _arun(self, script: str, key: str | bytes | list[Any], *args: Any) -> Any:
        bound = await self._async_bound()
        if bound is None:
            return await asyncio.to_thread(self._run, script, key, *args)
        keys = [key] if not isinstance(key, list) else key
        args = wire_all(args)
        try:
            return await bound.client.evalsha(bound.shas[script], _NUMKEYS[len(keys)], *keys, self._offset(), *args)
        except self._noscript:
            return await bound.scripts[script](keys=keys, args=[self._offset(), *args])

    def close(self) -> None:
        """Close the sync client's connections (a client you passed in is closed too)."""
        if self._sync is not None:
            self._sync.close()
        self._async_by_loop.clear()

    async def aclose(self) -> None:
        """Close the async client of the running loop (and the sync client). Clients made from a URL for other
        event loops close when their loop shuts down."""
        bound = self._async_by_loop.pop(asyncio.get_running_loop(), None) if self._url is not None else self._async
        if bound is not None and bound.lifetime is not None:
            await bound.lifetime.aclose()
        elif bound is not None:
            await bound.client.aclose()
        if self._sync is not None:
            self._sync.close()

    # -- result decoding ----------------------------------------------------------------------------------------
    @staticmethod
    def _window(reply: Any) -> WindowDecision:
        if type(reply) is int:  # admitted: the count alone keeps the common reply to one integer
            return WindowDecision(True, reply, 0.0)
        count, retry_after = reply.split()
        return WindowDecision(False, int(count), float(retry_after))

    @staticmethod
    def _acquired(reply: Any) -> BreakerDecision:
        return BreakerDecision(bool(int(reply[0])), bool(int(reply[1])), float(reply[2]), int(reply[3]))

    @staticmethod
    def _snapshot(reply: Any) -> BreakerSnapshot:
        state = _text(reply[0])
        if state == "open":
            return BreakerSnapshot("open", int(reply[1]), float(reply[2]))
        return BreakerSnapshot("half_open" if state == "half_open" else "closed", int(reply[1]), float(reply[2]))

    def _claim(self, reply: Any) -> Claim:
        status = _text(reply[0])
        if status == "done":
            return Claim("done", self._codec.loads(reply[1]))
        if status == "unknown":
            return Claim("unknown", retry_after=float(reply[2]))
        return Claim("claimed" if status == "claimed" else "in_progress")

    @staticmethod
    def _spend(reply: Any) -> SpendTotals:
        return SpendTotals(float(reply[0]), int(reply[1]))

    @staticmethod
    def _settled(reply: Any) -> SpendTotals:
        usd, tokens = reply.split()  # one bulk string "<usd> <tokens>"
        return SpendTotals(float(usd), int(tokens))

    @staticmethod
    def _missing(values: Sequence[str], reply: Any) -> list[str]:
        return [values[int(i) - 1] for i in reply]

    # -- rate limits --------------------------------------------------------------------------------------------
    def hit_window(self, key: str, limit: int, period: float) -> WindowDecision:
        try:
            return self._window(self._run("hit_window", self._key("rl", key), int(limit), _num(period)))
        except self._errors as exc:
            return self._degrade("rate_limit", "hit_window", exc, WindowDecision(True, 0, 0.0))

    async def ahit_window(self, key: str, limit: int, period: float) -> WindowDecision:
        try:
            reply = await self._arun("hit_window", self._key("rl", key), int(limit), _num(period))
            return self._window(reply)
        except self._errors as exc:
            return self._degrade("rate_limit", "hit_window", exc, WindowDecision(True, 0, 0.0))

    # -- circuit breakers ---------------------------------------------------------------------------------------
    def breaker_acquire(self, key: str, reset_timeout: float) -> BreakerDecision:
        try:
            return self._acquired(self._run("breaker_acquire", self._key("cb", key), _num(reset_timeout)))
        except self._errors as exc:
            return self._degrade("circuit_breaker", "breaker_acquire", exc, BreakerDecision(True, False, 0.0, 0))

    async def abreaker_acquire(self, key: str, reset_timeout: float) -> BreakerDecision:
        try:
            reply = await self._arun("breaker_acquire", self._key("cb", key), _num(reset_timeout))
            return self._acquired(reply)
        except self._errors as exc:
            return self._degrade("circuit_breaker", "breaker_acquire", exc, BreakerDecision(True, False, 0.0, 0))

    def _record_args(
        self, key: str, success: bool, probe: bool, max_fails: int, reset_timeout: float
    ) -> tuple[Any, ...]:
        return (
            "breaker_record",
            self._key("cb", key),
            int(success),
            int(probe),
            max_fails,
            _num(reset_timeout),
            _num(_BREAKER_IDLE),
        )

    def breaker_record(
        self, key: str, *, success: bool, probe: bool, max_fails: int, reset_timeout: float
    ) -> BreakerSnapshot:
        try:
            return self._snapshot(self._run(*self._record_args(key, success, probe, max_fails, reset_timeout)))
        except self._errors as exc:
            return self._degrade("circuit_breaker", "breaker_record", exc, BreakerSnapshot("closed", 0, 0.0))

    async def abreaker_record(
        self, key: str, *, success: bool, probe: bool, max_fails: int, reset_timeout: float
    ) -> BreakerSnapshot:
        try:
            return self._snapshot(await self._arun(*self._record_args(key, success, probe, max_fails, reset_timeout)))
        except self._errors as exc:
            return self._degrade("circuit_breaker", "breaker_record", exc, BreakerSnapshot("closed", 0, 0.0))

    def breaker_release(self, key: str, *, probe: bool) -> None:
        if not probe:
            return
        try:
            self._sync_bound().client.hdel(self._key("cb", key), "p")
        except self._errors as exc:
            self._degrade("circuit_breaker", "breaker_release", exc, None)

    async def abreaker_release(self, key: str, *, probe: bool) -> None:
        if not probe:
            return
        try:
            bound = await self._async_bound()
            if bound is None:
                await asyncio.to_thread(self._sync_bound().client.hdel, self._key("cb", key), "p")
            else:
                await bound.client.hdel(self._key("cb", key), "p")
        except self._errors as exc:
            self._degrade("circuit_breaker", "breaker_release", exc, None)

    def breaker_snapshot(self, key: str, reset_timeout: float) -> BreakerSnapshot:
        try:
            reply = self._run("breaker_snapshot", self._key("cb", key), _num(reset_timeout))
            return self._snapshot(reply)
        except self._errors as exc:
            return self._degrade("circuit_breaker", "breaker_snapshot", exc, BreakerSnapshot("closed", 0, 0.0))

    async def abreaker_snapshot(self, key: str, reset_timeout: float) -> BreakerSnapshot:
        try:
            reply = await self._arun("breaker_snapshot", self._key("cb", key), _num(reset_timeout))
            return self._snapshot(reply)
        except self._errors as exc:
            return self._degrade("circuit_breaker", "breaker_snapshot", exc, BreakerSnapshot("closed", 0, 0.0))

    # -- counters -----------------------------------------------------------------------------------------------
    def incr(self, key: str, ttl: float) -> int:
        try:
            return int(self._run("incr", self._key("ct", key), _num(ttl)))
        except self._errors as exc:
            self._unavailable("incr", exc)

    async def aincr(self, key: str, ttl: float) -> int:
        try:
            return int(await self._arun("incr", self._key("ct", key), _num(ttl)))
        except self._errors as exc:
            self._unavailable("incr", exc)

    # -- loop detection -----------------------------------------------------------------------------------------
    def _loop_args(self, key: str, entry: str, keep: int, ttl: float) -> tuple[Any, ...]:
        return ("loop_observe", self._key("lg", key), _num(ttl), entry, _LOOP_RECENT, keep)

    @staticmethod
    def _loop_step(reply: Any) -> LoopStep:
        count = int(reply[0])
        return LoopStep(count, tuple(_text(e) for e in reply[1:]) if count > 1 else ())

    def loop_observe(self, key: str, entry: str, keep: int, ttl: float) -> LoopStep:
        try:
            return self._loop_step(self._run(*self._loop_args(key, entry, keep, ttl)))
        except self._errors as exc:
            self._unavailable("loop_observe", exc)

    async def aloop_observe(self, key: str, entry: str, keep: int, ttl: float) -> LoopStep:
        try:
            return self._loop_step(await self._arun(*self._loop_args(key, entry, keep, ttl)))
        except self._errors as exc:
            self._unavailable("loop_observe", exc)

    # -- idempotency --------------------------------------------------------------------------------------------
    def idem_claim(self, key: str, ttl: float, owner: str = "") -> Claim:
        try:
            reply = self._run("idem_claim", self._key("id", key), _num(ttl), owner)
        except self._errors as exc:
            self._unavailable("idem_claim", exc)
        return self._claim(reply)

    async def aidem_claim(self, key: str, ttl: float, owner: str = "") -> Claim:
        try:
            reply = await self._arun("idem_claim", self._key("id", key), _num(ttl), owner)
        except self._errors as exc:
            self._unavailable("idem_claim", exc)
        return self._claim(reply)

    def idem_complete(self, key: str, result: Any, ttl: float) -> None:
        try:
            data = self._codec.dumps(result, "RedisStore")
        except Exception:
            self.idem_mark_unknown(key, ttl)
            raise
        try:
            self._run("idem_set", self._key("id", key), _num(ttl), "done", data)
        except self._errors as exc:
            self._unavailable("idem_complete", exc)

    async def aidem_complete(self, key: str, result: Any, ttl: float) -> None:
        try:
            data = self._codec.dumps(result, "RedisStore")
        except Exception:
            await self.aidem_mark_unknown(key, ttl)
            raise
        try:
            await self._arun("idem_set", self._key("id", key), _num(ttl), "done", data)
        except self._errors as exc:
            self._unavailable("idem_complete", exc)

    def idem_release(self, key: str) -> None:
        try:
            self._sync_bound().client.delete(self._key("id", key))
        except self._errors as exc:
            self._unavailable("idem_release", exc)

    async def aidem_release(self, key: str) -> None:
        try:
            bound = await self._async_bound()
            if bound is None:
                await asyncio.to_thread(self._sync_bound().client.delete, self._key("id", key))
            else:
                await bound.client.delete(self._key("id", key))
        except self._errors as exc:
            self._unavailable("idem_release", exc)

    def idem_mark_unknown(self, key: str, ttl: float) -> None:
        try:
            self._run("idem_set", self._key("id", key), _num(ttl), "unknown", "")
        except self._errors as exc:
            self._unavailable("idem_mark_unknown", exc)

    async def aidem_mark_unknown(self, key: str, ttl: float) -> None:
        try:
            await self._arun("idem_set", self._key("id", key), _num(ttl), "unknown", "")
        except self._errors as exc:
            self._unavailable("idem_mark_unknown", exc)

    # -- facts --------------------------------------------------------------------------------------------------
    def facts_add(self, namespace: str, kind: str, values: Iterable[str], ttl: float) -> None:
        members = [_fact(kind, v) for v in values]
        try:
            self._run("facts_add", self._key("fa", namespace), _num(ttl), _MAX_FACTS, *members)
        except self._errors as exc:
            self._unavailable("facts_add", exc)

    async def afacts_add(self, namespace: str, kind: str, values: Iterable[str], ttl: float) -> None:
        members = [_fact(kind, v) for v in values]
        try:
            await self._arun("facts_add", self._key("fa", namespace), _num(ttl), _MAX_FACTS, *members)
        except self._errors as exc:
            self._unavailable("facts_add", exc)

    def facts_missing(self, namespace: str, kind: str, values: Sequence[str]) -> list[str]:
        if not values:
            return []
        try:
            reply = self._run("facts_missing", self._key("fa", namespace), *[_fact(kind, v) for v in values])
        except self._errors as exc:
            self._unavailable("facts_missing", exc)
        return self._missing(values, reply)

    async def afacts_missing(self, namespace: str, kind: str, values: Sequence[str]) -> list[str]:
        if not values:
            return []
        try:
            reply = await self._arun("facts_missing", self._key("fa", namespace), *[_fact(kind, v) for v in values])
        except self._errors as exc:
            self._unavailable("facts_missing", exc)
        return self._missing(values, reply)

    def facts_clear(self, namespace: str) -> None:
        try:
            self._sync_bound().client.delete(self._key("fa", namespace))
        except self._errors as exc:
            self._unavailable("facts_clear", exc)

    async def afacts_clear(self, namespace: str) -> None:
        try:
            bound = await self._async_bound()
            if bound is None:
                await asyncio.to_thread(self._sync_bound().client.delete, self._key("fa", namespace))
            else:
                await bound.client.delete(self._key("fa", namespace))
        except self._errors as exc:
            self._unavailable("facts_clear", exc)

    # -- spend --------------------------------------------------------------------------------------------------
    def spend_add(self, key: str, usd: float, tokens: int, ttl: float | None) -> SpendTotals:
        ttl_arg = "" if ttl is None else _num(ttl)
        try:
            return self._spend(self._run("spend_add", self._key("sp", key), _num(usd), int(tokens), ttl_arg))
        except self._errors as exc:
            self._unavailable("spend_add", exc)

    async def aspend_add(self, key: str, usd: float, tokens: int, ttl: float | None) -> SpendTotals:
        ttl_arg = "" if ttl is None else _num(ttl)
        try:
            reply = await self._arun("spend_add", self._key("sp", key), _num(usd), int(tokens), ttl_arg)
        except self._errors as exc:
            self._unavailable("spend_add", exc)
        return self._spend(reply)

    def spend_get(self, key: str) -> SpendTotals:
        try:
            return self._spend(self._run("spend_get", self._key("sp", key)))
        except self._errors as exc:
            self._unavailable("spend_get", exc)

    async def aspend_get(self, key: str) -> SpendTotals:
        try:
            return self._spend(await self._arun("spend_get", self._key("sp", key)))
        except self._errors as exc:
            self._unavailable("spend_get", exc)

    def _spend_keys(self, key: str, settled: bool) -> list[Any]:
        spend = f"{self.prefix}:{{sp:{key}}}"
        keys = [spend, spend + ":r", spend + ":s"] if settled else [spend, spend + ":r"]
        return keys if spend.isascii() else [wire(k) for k in keys]

    @staticmethod
    def _reserve_args(
        op_id: str, usd: float, tokens: int, usd_limit: float | None, token_limit: int | None, lease: float
    ) -> tuple[Any, ...]:
        # The numbers travel as one argument: every argument costs the client an encoding step and the wire a header.
        usd_cap = "-" if usd_limit is None else repr(float(usd_limit))
        token_cap = "-" if token_limit is None else int(token_limit)
        return op_id, f"{float(usd)!r} {int(tokens)} {usd_cap} {token_cap} {float(lease)!r}"

    @staticmethod
    def _reservation(reply: Any) -> Reservation:
        granted, usd, tokens = reply.split()
        return Reservation(granted in _GRANTED, float(usd), int(tokens))

    def spend_reserve(
        self,
        key: str,
        op_id: str,
        usd: float,
        tokens: int,
        *,
        usd_limit: float | None,
        token_limit: int | None,
        ttl: float | None,
        lease: float,
    ) -> Reservation:
        args = self._reserve_args(op_id, usd, tokens, usd_limit, token_limit, lease)
        try:
            return self._reservation(self._run("spend_reserve", self._spend_keys(key, False), *args))
        except self._errors as exc:
            self._unavailable("spend_reserve", exc)

    async def aspend_reserve(
        self,
        key: str,
        op_id: str,
        usd: float,
        tokens: int,
        *,
        usd_limit: float | None,
        token_limit: int | None,
        ttl: float | None,
        lease: float,
    ) -> Reservation:
        args = self._reserve_args(op_id, usd, tokens, usd_limit, token_limit, lease)
        try:
            reply = await self._arun("spend_reserve", self._spend_keys(key, False), *args)
        except self._errors as exc:
            self._unavailable("spend_reserve", exc)
        return self._reservation(reply)

    def _settle_args(self, key: str, op_id: str, usd: float, tokens: int, ttl: float | None) -> tuple[Any, ...]:
        ttl_arg = "-" if ttl is None else repr(float(ttl))
        trim = _SETTLED_MAX if self._trim_due(key) else "-"
        return op_id, f"{float(usd)!r} {int(tokens)} {ttl_arg} {trim}"

    def _trim_due(self, key: str) -> bool:
        """Whether this settle trims the settled-id set: this process's first settle on ``key``, then every 64th."""
        seen = self._settles
        n = seen.get(key, -1) + 1
        if n == 0 and len(seen) >= _SETTLED_KEYS_TRACKED:
            seen.clear()  # bounded: forgetting only makes the next settles trim once more
        seen[key] = n
        return n % _SETTLE_TRIM_EVERY == 0

    def spend_settle(self, key: str, op_id: str, usd: float, tokens: int, ttl: float | None) -> SpendTotals:
        try:
            args = self._settle_args(key, op_id, usd, tokens, ttl)
            reply = self._run("spend_settle", self._spend_keys(key, True), *args)
        except self._errors as exc:
            self._unavailable("spend_settle", exc)
        return self._settled(reply)

    async def aspend_settle(self, key: str, op_id: str, usd: float, tokens: int, ttl: float | None) -> SpendTotals:
        args = self._settle_args(key, op_id, usd, tokens, ttl)
        try:
            reply = await self._arun("spend_settle", self._spend_keys(key, True), *args)
        except self._errors as exc:
            self._unavailable("spend_settle", exc)
        return self._settled(reply)
