"""SQLite store: guard state shared by several processes on one host, with nothing to install.

One database file (WAL journal), one connection per thread and process. Every check that changes state is one
``BEGIN IMMEDIATE`` transaction, so concurrent processes serialise on SQLite's write lock and counts are exact.
Time is the host's wall clock (``time.time()``), read inside the transaction, so every process compares timestamps
from one clock. Expired rows are deleted by the checks that meet them and by a sweep every ``sweep_every`` writes.

The file must be on a local disk: WAL needs shared memory between the processes, which network file systems lack.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from actguard._clock import SYSTEM_CLOCK, Clock
from actguard._durations import check_seconds
from actguard.exceptions import ConfigError, StoreUnavailable
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
from actguard.stores._base import refused as _refused
from actguard.stores._codec import Serializer, make_codec, wire, wire_all

__all__ = ["SQLiteStore"]

_T = TypeVar("_T")
_BREAKER_IDLE = 86_400.0  # a circuit untouched this long after its last change (plus reset_timeout) is forgotten
_CHUNK = 500  # bound parameters per IN (...) list

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS hits_key_ts ON hits (key, ts);
CREATE TABLE IF NOT EXISTS windows (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at REAL NOT NULL)
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS windows_exp ON windows (expires_at);
CREATE TABLE IF NOT EXISTS breakers (
    key TEXT PRIMARY KEY, failures INTEGER NOT NULL, opened_at REAL, probe_at REAL, expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL, expires_at REAL NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, status TEXT NOT NULL, result TEXT, expires_at REAL NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS facts (
    ns TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (ns, kind, value)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS spend (key TEXT PRIMARY KEY, usd REAL NOT NULL, tokens INTEGER NOT NULL, expires_at REAL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reservations (
    key TEXT NOT NULL, op TEXT NOT NULL, usd REAL NOT NULL, tokens INTEGER NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (key, op)
) WITHOUT ROWID;
"""
_LOOP_SCHEMA = """
CREATE TABLE IF NOT EXISTS loop_runs (key TEXT PRIMARY KEY, recent TEXT NOT NULL, expires_at REAL NOT NULL)
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS loop_runs_exp ON loop_runs (expires_at);
CREATE TABLE IF NOT EXISTS loop_counts (key TEXT NOT NULL, entry TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (key, entry)) WITHOUT ROWID;
"""
_LOOP_RECENT = 32  # recent calls kept per run (loop_observe's keep is at most this)
_TABLES_WITH_EXPIRY = ("breakers", "counters", "claims", "facts", "spend", "reservations")


class _Connection(sqlite3.Connection):
    """A connection that can be weakly referenced (so :meth:`SQLiteStore.close` can find every live one), and that
    binds any ``str`` (lone surrogates included: see :func:`actguard.stores._codec.wire`)."""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return super().execute(sql, wire_all(parameters))

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        return super().executemany(sql, (wire_all(p) for p in parameters))


class _Owned:
    """Holds one thread's connection; closes it when the thread ends and drops its thread-local state.

    A forked child never closes a connection it inherited: SQLite connections must not be used across fork.
    """

    __slots__ = ("conn", "pid")

    def __init__(self, conn: _Connection) -> None:
        self.conn = conn
        self.pid = os.getpid()

    def __del__(self) -> None:
        if os.getpid() == self.pid:
            self.conn.close()


def _use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch the file to WAL (a no-op once it is). Workers opening a new file together race here: SQLite answers
    "database is locked" at once to one of two connections upgrading their locks together (waiting could deadlock),
    so the busy timeout does not apply; try again until ``timeout`` instead of losing a worker at startup."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


class SQLiteStore(Store):
    """Keeps guard state in a SQLite database file shared by the processes of one host.

    Args:
        path: the database file (created if missing). ``":memory:"`` is refused: it cannot be shared.
        timeout: seconds a check waits for another process's write lock before the store counts as unavailable.
        fail_open: guard kinds that answer "allowed" when the database cannot be used: ``False`` (default: fail
            closed), ``True`` (rate limits and circuit breakers), or a collection of ``"rate_limit"``,
            ``"circuit_breaker"``. Budgets, idempotency, max_attempts and facts always fail closed.
        serializer: how idempotent results are stored: ``"json"`` (default) or ``"pickle"`` (trusted writers only);
            see :mod:`actguard.stores._codec`.
        clock: where ``wall()`` time comes from (default: ``time.time()``); tests pass a FakeClock.
        sweep_every: writes (per process) between sweeps of expired rows.

    Raises:
        ConfigError: for invalid arguments.
        StoreUnavailable: when the database cannot be opened or its schema created.

    Example::

        import actguard
        actguard.set_default_store(actguard.SQLiteStore("/var/lib/myagent/actguard.db"))
    """

    backend = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 5.0,
        fail_open: bool | Iterable[str] = False,
        serializer: Serializer = "json",
        clock: Clock = SYSTEM_CLOCK,
        sweep_every: int = 1000,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise ConfigError(f"SQLiteStore(path=...) must be a file path (str or os.PathLike), got {path!r}")
        self.path = os.fspath(path)
        if self.path == ":memory:" or not self.path:
            raise ConfigError(
                "SQLiteStore(path=...) must name a file that several processes can open; "
                "for in-process state use MemoryStore()"
            )
        check_seconds(timeout, "SQLiteStore(timeout=...)")
        if isinstance(sweep_every, bool) or not isinstance(sweep_every, int) or sweep_every < 1:
            raise ConfigError(f"SQLiteStore(sweep_every=...) must be an int >= 1, got {sweep_every!r}")
        self.timeout = float(timeout)
        self.fail_open = parse_fail_open(fail_open, "SQLiteStore(fail_open=...)")
        self._codec = make_codec(serializer, "SQLiteStore")
        self._wall = clock.wall
        self._sweep_every = sweep_every
        self._local = threading.local()
        self._conns: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._conns_lock = threading.Lock()
        self._pid = os.getpid()
        self._writes = 0
        self._loop_schema_ready = False  # loop_guard's tables are created on its first use
        try:
            conn = self._conn()
            _use_wal(conn, self.timeout)
            conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self.close()
            self._unavailable(f"open of {self.path!r}", exc)  # name the file: "unable to open" alone does not

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # -- connections and transactions --------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if os.getpid() != self._pid:  # forked: the parent's connections must not be used here
            self._pid = os.getpid()
            self._local = threading.local()
            self._conns = weakref.WeakSet()
        owned: _Owned | None = getattr(self._local, "owned", None)
        if owned is None:
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False, factory=_Connection
            )
            try:
                conn.execute("PRAGMA synchronous=NORMAL")  # with WAL: no fsync per commit, still crash-consistent
            except BaseException:
                conn.close()  # e.g. a file that is no database: never leave a connection to the GC
                raise
            owned = self._local.owned = _Owned(conn)
            with self._conns_lock:
                self._conns.add(conn)
        return owned.conn

    def _write(self, operation: str, body: Callable[[sqlite3.Connection, float], _T]) -> _T:
        """Run ``body(conn, now)`` in one BEGIN IMMEDIATE transaction; ``now`` is read once the lock is held."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            now = self._wall()
            result = body(conn, now)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._writes += 1
        if self._writes % self._sweep_every == 0:
            with contextlib.suppress(StoreUnavailable):  # best effort: the next sweep retries
                self.sweep()
        return result

    def sweep(self) -> None:
        """Delete every expired row now (also runs by itself every ``sweep_every`` writes)."""

        def body(conn: sqlite3.Connection, now: float) -> None:
            # a window expires with its last hit: every hit of it is out of the window by then
            conn.execute("DELETE FROM hits WHERE key IN (SELECT key FROM windows WHERE expires_at <= ?)", (now,))
            conn.execute("DELETE FROM windows WHERE expires_at <= ?", (now,))
            for table in _TABLES_WITH_EXPIRY:
                conn.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (now,))

        try:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                body(conn, self._wall())
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self._unavailable("sweep", exc)

    def close(self) -> None:
        """Close every connection this store opened (in this process)."""
        with self._conns_lock:
            conns, self._conns = list(self._conns), weakref.WeakSet()
        self._local = threading.local()
        for conn in conns:
            conn.close()

    # -- rate limits --------------------------------------------------------------------------------------------
    def hit_window(self, key: str, limit: int, period: float) -> WindowDecision:
        # One row per admitted hit; ``windows`` keeps each key's row count, so a check costs O(log n), not O(n).
        def body(conn: sqlite3.Connection, now: float) -> WindowDecision:
            row = conn.execute("SELECT count FROM windows WHERE key = ?", (key,)).fetchone()
            count = 0 if row is None else row[0]
            if count:
                count -= conn.execute("DELETE FROM hits WHERE key = ? AND ts <= ?", (key, now - period)).rowcount
            if count >= limit:
                (oldest,) = conn.execute(
                    "SELECT ts FROM hits WHERE key = ? ORDER BY ts LIMIT 1 OFFSET ?", (key, count - limit)
                ).fetchone()
                conn.execute("UPDATE windows SET count = ? WHERE key = ?", (count, key))
                return WindowDecision(False, count, max(oldest + period - now, 0.0))
            conn.execute("INSERT INTO hits (key, ts) VALUES (?, ?)", (key, now))
            conn.execute(
                "INSERT OR REPLACE INTO windows (key, count, expires_at) VALUES (?, ?, ?)",
                (key, count + 1, now + period),
            )
            return WindowDecision(True, count + 1, 0.0)

        try:
            return self._write("hit_window", body)
        except sqlite3.Error as exc:
            return self._degrade("rate_limit", "hit_window", exc, WindowDecision(True, 0, 0.0))

    # -- circuit breakers ---------------------------------------------------------------------------------------
    def breaker_acquire(self, key: str, reset_timeout: float) -> BreakerDecision:
        def decide(conn: sqlite3.Connection, now: float, write: bool) -> BreakerDecision | None:
            row = conn.execute("SELECT failures, opened_at, probe_at FROM breakers WHERE key = ?", (key,)).fetchone()
            if row is None or row[1] is None:
                return BreakerDecision(True, False, 0.0, 0 if row is None else row[0])
            failures, opened_at, probe_at = row
            remaining = opened_at + reset_timeout - now
            lease = probe_at + reset_timeout - now if probe_at is not None else 0.0
            if remaining > 0 or lease > 0:
                return BreakerDecision(False, False, max(remaining, lease, 0.0), failures)
            if not write:
                return None  # a probe is due: take it under the write lock
            conn.execute("UPDATE breakers SET probe_at = ? WHERE key = ?", (now, key))
            return BreakerDecision(True, True, 0.0, failures)

        try:
            # The common case (closed, or open and cooling down) is a read: no write lock, no contention.
            decision = decide(self._conn(), self._wall(), False)
            if decision is not None:
                return decision
            result = self._write("breaker_acquire", lambda conn, now: decide(conn, now, True))
            assert result is not None
            return result
        except sqlite3.Error as exc:
            return self._degrade("circuit_breaker", "breaker_acquire", exc, BreakerDecision(True, False, 0.0, 0))

    def breaker_record(
        self, key: str, *, success: bool, probe: bool, max_fails: int, reset_timeout: float
    ) -> BreakerSnapshot:
        def body(conn: sqlite3.Connection, now: float) -> BreakerSnapshot:
            if success:
                conn.execute("DELETE FROM breakers WHERE key = ?", (key,))
                return BreakerSnapshot("closed", 0, 0.0)
            row = conn.execute("SELECT failures, opened_at, probe_at FROM breakers WHERE key = ?", (key,)).fetchone()
            failures, opened_at, probe_at = row if row is not None else (0, None, None)
            failures += 1
            if probe:
                probe_at = None
            if probe or (opened_at is None and failures >= max_fails):
                opened_at = now
            conn.execute(
                "INSERT OR REPLACE INTO breakers (key, failures, opened_at, probe_at, expires_at) VALUES (?,?,?,?,?)",
                (key, failures, opened_at, probe_at, now + reset_timeout + _BREAKER_IDLE),
            )
            if opened_at is None:
                return BreakerSnapshot("closed", failures, 0.0)
            return BreakerSnapshot("open", failures, max(opened_at + reset_timeout - now, 0.0))

        try:
            return self._write("breaker_record", body)
        except sqlite3.Error as exc:
            return self._degrade("circuit_breaker", "breaker_record", exc, BreakerSnapshot("closed", 0, 0.0))

    def breaker_release(self, key: str, *, probe: bool) -> None:
        if not probe:
            return
        try:
            self._write(
                "breaker_release",
                lambda conn, now: conn.execute("UPDATE breakers SET probe_at = NULL WHERE key = ?", (key,)),
            )
        except sqlite3.Error as exc:
            self._degrade("circuit_breaker", "breaker_release", exc, None)

    def breaker_snapshot(self, key: str, reset_timeout: float) -> BreakerSnapshot:
        try:
            row = (
                self._conn()
                .execute(
                    "SELECT failures, opened_at FROM breakers WHERE key = ? AND expires_at > ?", (key, self._wall())
                )
                .fetchone()
            )
        except sqlite3.Error as exc:
            return self._degrade("circuit_breaker", "breaker_snapshot", exc, BreakerSnapshot("closed", 0, 0.0))
        if row is None:
            return BreakerSnapshot("closed", 0, 0.0)
        failures, opened_at = row
        if opened_at is None:
            return BreakerSnapshot("closed", failures, 0.0)
        remaining = opened_at + reset_timeout - self._wall()
        if remaining > 0:
            return BreakerSnapshot("open", failures, remaining)
        return BreakerSnapshot("half_open", failures, 0.0)

    # -- counters -----------------------------------------------------------------------------------------------
    def incr(self, key: str, ttl: float) -> int:
        def body(conn: sqlite3.Connection, now: float) -> int:
            row = conn.execute("SELECT value, expires_at FROM counters WHERE key = ?", (key,)).fetchone()
            if row is None or row[1] <= now:
                conn.execute(
                    "INSERT OR REPLACE INTO counters (key, value, expires_at) VALUES (?, 1, ?)", (key, now + ttl)
                )
                return 1
            conn.execute("UPDATE counters SET value = value + 1 WHERE key = ?", (key,))
            return int(row[0]) + 1

        try:
            return self._write("incr", body)
        except sqlite3.Error as exc:
            self._unavailable("incr", exc)

    # -- idempotency --------------------------------------------------------------------------------------------
    def idem_claim(self, key: str, ttl: float, owner: str = "") -> Claim:
        def body(conn: sqlite3.Connection, now: float) -> tuple[str, str | None, float]:
            row = conn.execute("SELECT status, result, expires_at FROM claims WHERE key = ?", (key,)).fetchone()
            if row is None or row[2] <= now:
                conn.execute(  # an in-progress claim keeps its owner in the result column
                    "INSERT OR REPLACE INTO claims (key, status, result, expires_at) VALUES (?, 'in_progress', ?, ?)",
                    (key, owner, now + ttl),
                )
                return ("claimed", None, 0.0)
            if row[0] == "in_progress" and owner and row[1] == owner:
                return ("claimed", None, 0.0)
            return (row[0], row[1], row[2] - now)

        try:
            status, data, remaining = self._write("idem_claim", body)
        except sqlite3.Error as exc:
            self._unavailable("idem_claim", exc)
        if status == "done":
            return Claim("done", self._codec.loads(data) if data is not None else None)
        if status == "unknown":
            return Claim("unknown", retry_after=remaining)
        return Claim("claimed" if status == "claimed" else "in_progress")

    def _set_claim(self, operation: str, key: str, status: str, data: str | None, ttl: float) -> None:
        try:
            self._write(
                operation,
                lambda conn, now: conn.execute(
                    "INSERT OR REPLACE INTO claims (key, status, result, expires_at) VALUES (?, ?, ?, ?)",
                    (key, status, data, now + ttl),
                ),
            )
        except sqlite3.Error as exc:
            self._unavailable(operation, exc)

    def idem_complete(self, key: str, result: Any, ttl: float) -> None:
        try:
            data = self._codec.dumps(result, "SQLiteStore")
        except Exception:
            self.idem_mark_unknown(key, ttl)
            raise
        self._set_claim("idem_complete", key, "done", data, ttl)

    def idem_release(self, key: str) -> None:
        try:
            self._write("idem_release", lambda conn, now: conn.execute("DELETE FROM claims WHERE key = ?", (key,)))
        except sqlite3.Error as exc:
            self._unavailable("idem_release", exc)

    def idem_mark_unknown(self, key: str, ttl: float) -> None:
        self._set_claim("idem_mark_unknown", key, "unknown", None, ttl)

    # -- facts --------------------------------------------------------------------------------------------------
    def facts_add(self, namespace: str, kind: str, values: Iterable[str], ttl: float) -> None:
        items = list(values)

        def body(conn: sqlite3.Connection, now: float) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO facts (ns, kind, value, expires_at) VALUES (?, ?, ?, ?)",
                [(namespace, kind, value, now + ttl) for value in items],
            )

        try:
            self._write("facts_add", body)
        except sqlite3.Error as exc:
            self._unavailable("facts_add", exc)

    def facts_missing(self, namespace: str, kind: str, values: Sequence[str]) -> list[str]:
        wanted = list(values)
        proven: set[str | bytes] = set()  # as stored: str, or bytes for a value with a lone surrogate
        try:
            conn = self._conn()
            now = self._wall()
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT value FROM facts WHERE ns = ? AND kind = ? AND expires_at > ? AND value IN ({marks})",
                    (namespace, kind, now, *chunk),
                )
                proven.update(row[0] for row in rows)
        except sqlite3.Error as exc:
            self._unavailable("facts_missing", exc)
        return [value for value in wanted if wire(value) not in proven]

    def facts_clear(self, namespace: str) -> None:
        try:
            self._write("facts_clear", lambda conn, now: conn.execute("DELETE FROM facts WHERE ns = ?", (namespace,)))
        except sqlite3.Error as exc:
            self._unavailable("facts_clear", exc)

    # -- spend --------------------------------------------------------------------------------------------------
    def spend_add(self, key: str, usd: float, tokens: int, ttl: float | None) -> SpendTotals:
        def body(conn: sqlite3.Connection, now: float) -> SpendTotals:
            return self._add_spend(conn, now, key, usd, tokens, ttl)

        try:
            return self._write("spend_add", body)
        except sqlite3.Error as exc:
            self._unavailable("spend_add", exc)

    @staticmethod
    def _add_spend(
        conn: sqlite3.Connection, now: float, key: str, usd: float, tokens: int, ttl: float | None
    ) -> SpendTotals:
        row = conn.execute("SELECT usd, tokens, expires_at FROM spend WHERE key = ?", (key,)).fetchone()
        if row is None or (row[2] is not None and row[2] <= now):
            row = (0.0, 0, now + ttl if ttl is not None else None)
        total = SpendTotals(row[0] + usd, int(row[1]) + tokens)
        conn.execute(
            "INSERT OR REPLACE INTO spend (key, usd, tokens, expires_at) VALUES (?, ?, ?, ?)",
            (key, total.usd, total.tokens, row[2]),
        )
        return total

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
        def body(conn: sqlite3.Connection, now: float) -> Reservation:
            conn.execute("DELETE FROM reservations WHERE key = ? AND (expires_at <= ? OR op = ?)", (key, now, op_id))
            spent = conn.execute(
                "SELECT usd, tokens FROM spend WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)", (key, now)
            ).fetchone()
            held = conn.execute(
                "SELECT COALESCE(SUM(usd), 0.0), COALESCE(SUM(tokens), 0) FROM reservations WHERE key = ?", (key,)
            ).fetchone()
            total_usd = (spent[0] if spent else 0.0) + held[0]
            total_tokens = (int(spent[1]) if spent else 0) + int(held[1])
            if _refused(total_usd, usd, usd_limit) or _refused(total_tokens, tokens, token_limit):
                return Reservation(False, total_usd, total_tokens)
            conn.execute(
                "INSERT INTO reservations (key, op, usd, tokens, expires_at) VALUES (?, ?, ?, ?, ?)",
                (key, op_id, usd, tokens, now + lease),
            )
            return Reservation(True, total_usd + usd, total_tokens + tokens)

        try:
            return self._write("spend_reserve", body)
        except sqlite3.Error as exc:
            self._unavailable("spend_reserve", exc)

    def spend_settle(self, key: str, op_id: str, usd: float, tokens: int, ttl: float | None) -> SpendTotals:
        # One transaction: a failed settle changed nothing, so repeating it never counts twice.
        def body(conn: sqlite3.Connection, now: float) -> SpendTotals:
            conn.execute("DELETE FROM reservations WHERE key = ? AND op = ?", (key, op_id))
            return self._add_spend(conn, now, key, usd, tokens, ttl)

        try:
            return self._write("spend_settle", body)
        except sqlite3.Error as exc:
            self._unavailable("spend_settle", exc)

    def spend_get(self, key: str) -> SpendTotals:
        try:
            row = (
                self._conn()
                .execute(
                    "SELECT usd, tokens FROM spend WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
                    (key, self._wall()),
                )
                .fetchone()
            )
        except sqlite3.Error as exc:
            self._unavailable("spend_get", exc)
        return SpendTotals(0.0, 0) if row is None else SpendTotals(float(row[0]), int(row[1]))

    # -- loop detection -----------------------------------------------------------------------------------------
    def loop_observe(self, key: str, entry: str, keep: int, ttl: float) -> LoopStep:
        def body(conn: sqlite3.Connection, now: float) -> LoopStep:
            row = conn.execute("SELECT recent, expires_at FROM loop_runs WHERE key = ?", (key,)).fetchone()
            if row is None or row[1] <= now:
                # A new run: drop this key's stale counts and, while at it, every expired run (runs start far less
                # often than calls are made, so this is the sweep).
                conn.execute(
                    "DELETE FROM loop_counts WHERE key = ? OR key IN (SELECT key FROM loop_runs WHERE expires_at <= ?)",
                    (key, now),
                )
                conn.execute("DELETE FROM loop_runs WHERE expires_at <= ?", (now,))
                recent: list[str] = []
                expires_at = now + ttl
            else:
                recent, expires_at = json.loads(row[0]), row[1]
            recent.append(entry)
            del recent[:-_LOOP_RECENT]
            conn.execute(
                "INSERT OR REPLACE INTO loop_runs (key, recent, expires_at) VALUES (?, ?, ?)",
                (key, json.dumps(recent), expires_at),
            )
            seen = conn.execute("SELECT count FROM loop_counts WHERE key = ? AND entry = ?", (key, entry)).fetchone()
            count = 1 if seen is None else int(seen[0]) + 1
            conn.execute("INSERT OR REPLACE INTO loop_counts (key, entry, count) VALUES (?, ?, ?)", (key, entry, count))
            return LoopStep(count, tuple(recent[-keep:]) if count > 1 else ())

        try:
            if not self._loop_schema_ready:
                self._conn().executescript(_LOOP_SCHEMA)
                self._loop_schema_ready = True
            return self._write("loop_observe", body)
        except sqlite3.Error as exc:
            self._unavailable("loop_observe", exc)

    async def aloop_observe(self, key: str, entry: str, keep: int, ttl: float) -> LoopStep:
        return await asyncio.to_thread(self.loop_observe, key, entry, keep, ttl)

    # -- async twins: run in a worker thread, so waiting for another process's lock never blocks the event loop --
    async def ahit_window(self, key: str, limit: int, period: float) -> WindowDecision:
        return await asyncio.to_thread(self.hit_window, key, limit, period)

    async def abreaker_acquire(self, key: str, reset_timeout: float) -> BreakerDecision:
        return await asyncio.to_thread(self.breaker_acquire, key, reset_timeout)

    async def abreaker_record(
        self, key: str, *, success: bool, probe: bool, max_fails: int, reset_timeout: float
    ) -> BreakerSnapshot:
        return await asyncio.to_thread(
            lambda: self.breaker_record(
                key, success=success, probe=probe, max_fails=max_fails, reset_timeout=reset_timeout
            )
        )

    async def abreaker_release(self, key: str, *, probe: bool) -> None:
        await asyncio.to_thread(lambda: self.breaker_release(key, probe=probe))

    async def abreaker_snapshot(self, key: str, reset_timeout: float) -> BreakerSnapshot:
        return await asyncio.to_thread(self.breaker_snapshot, key, reset_timeout)

    async def aincr(self, key: str, ttl: float) -> int:
        return await asyncio.to_thread(self.incr, key, ttl)

    async def aidem_claim(self, key: str, ttl: float, owner: str = "") -> Claim:
        return await asyncio.to_thread(self.idem_claim, key, ttl, owner)

    async def aidem_complete(self, key: str, result: Any, ttl: float) -> None:
        await asyncio.to_thread(self.idem_complete, key, result, ttl)

    async def aidem_release(self, key: str) -> None:
        await asyncio.to_thread(self.idem_release, key)

    async def aidem_mark_unknown(self, key: str, ttl: float) -> None:
        await asyncio.to_thread(self.idem_mark_unknown, key, ttl)

    async def afacts_add(self, namespace: str, kind: str, values: Iterable[str], ttl: float) -> None:
        items = list(values)
        await asyncio.to_thread(self.facts_add, namespace, kind, items, ttl)

    async def afacts_missing(self, namespace: str, kind: str, values: Sequence[str]) -> list[str]:
        return await asyncio.to_thread(self.facts_missing, namespace, kind, values)

    async def afacts_clear(self, namespace: str) -> None:
        await asyncio.to_thread(self.facts_clear, namespace)

    async def aspend_add(self, key: str, usd: float, tokens: int, ttl: float | None) -> SpendTotals:
        return await asyncio.to_thread(self.spend_add, key, usd, tokens, ttl)

    async def aspend_get(self, key: str) -> SpendTotals:
        return await asyncio.to_thread(self.spend_get, key)

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
        return await asyncio.to_thread(
            lambda: self.spend_reserve(
                key, op_id, usd, tokens, usd_limit=usd_limit, token_limit=token_limit, ttl=ttl, lease=lease
            )
        )

    async def aspend_settle(self, key: str, op_id: str, usd: float, tokens: int, ttl: float | None) -> SpendTotals:
        return await asyncio.to_thread(self.spend_settle, key, op_id, usd, tokens, ttl)
