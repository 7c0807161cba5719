"""The durable log of a sandbox's output (`LogStore` over the read-model database).

Chunks are rows keyed by (sandbox, seq) in the SQL database every API process shares, so the
log is readable from any process, during the run and after it, and a chunk the runner appended
survives a crash. Followers are woken without hammering the database: each append notifies this
process's waiters at once and, with Redis configured, publishes the sandbox id on one channel
that every process subscribes to; a short poll (long with Redis) covers writers elsewhere and
lost messages. Logs expire `retention_seconds` after the sandbox ended: reads then raise `Gone`
(410) and `purge_expired` deletes the chunks, keeping a marker row so the answer stays 410.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Literal

import redis
import structlog

from domain.shared.errors import Gone
from infra.settings import Settings
from infra.sql.database import Database

log = structlog.get_logger("tilde.sandbox_logs")

LOGS_TABLE = "sandbox_logs"
CHUNKS_TABLE = "sandbox_log_chunks"
CHANNEL = "tilde:sandbox-logs"
EXPIRED_MESSAGE = "logs no longer available"
# One read returns at most this many bytes (a follower streams a long log in pieces).
READ_BYTES = 1 << 20

LogState = Literal["open", "closed", "expired"]


class _Waiters:
    """Per-sandbox generation counters: `notify` bumps one and wakes whoever waits on it,
    threads (a condition) and event loops (an `asyncio.Event` set thread-safely)."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._generation: dict[str, int] = {}
        self._events: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    def token(self, sandbox_id: str) -> int:
        with self._lock:
            return self._generation.get(sandbox_id, 0)

    def notify(self, sandbox_id: str) -> None:
        with self._lock:
            self._generation[sandbox_id] = self._generation.get(sandbox_id, 0) + 1
            self._lock.notify_all()
            waiting = list(self._events.get(sandbox_id, ()))
        for loop, event in waiting:
            with suppress(RuntimeError):  # that loop is closed: its waiter is gone
                loop.call_soon_threadsafe(event.set)

    def wait(self, sandbox_id: str, token: int, timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(
                lambda: self._generation.get(sandbox_id, 0) != token, timeout
            )

    async def wait_async(self, sandbox_id: str, token: int, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        entry = (loop, event)
        with self._lock:
            if self._generation.get(sandbox_id, 0) != token:
                return True
            self._events.setdefault(sandbox_id, set()).add(entry)
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                entries = self._events.get(sandbox_id)
                if entries is not None:
                    entries.discard(entry)
                    if not entries:
                        del self._events[sandbox_id]


class _RedisFanout:
    """Publishes appends on one channel and wakes local waiters for everyone's appends.

    The subscriber thread starts with the first follower; while Redis is unreachable it
    retries with a backoff and followers fall back to polling, so a Redis outage only slows
    live logs down to the poll interval."""

    def __init__(self, url: str, waiters: _Waiters, channel: str = CHANNEL) -> None:
        self.channel = channel
        self.client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=1.0)
        self.waiters = waiters
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def publish(self, sandbox_id: str) -> None:
        try:
            self.client.publish(self.channel, sandbox_id)
        except redis.RedisError as e:
            log.warning("sandbox_logs.publish_failed", error=str(e))

    def ensure_subscribed(self) -> None:
        with self._lock:
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(
                    target=self._listen, name="sandbox-logs-redis", daemon=True
                )
                self._thread.start()

    def _listen(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                backoff = 0.1
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None and message.get("type") == "message":
                        data = message["data"]
                        self.waiters.notify(data.decode() if isinstance(data, bytes) else data)
            except redis.RedisError as e:
                log.warning("sandbox_logs.subscribe_failed", error=str(e))
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                pubsub.close()

    def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.client.close()


class SqlLogStore:
    """`LogStore` on the read-model database; see the module docstring.

    `redis_url` empty: followers in other processes see appends within `poll_interval`
    (default 0.1 s); with Redis they are woken at once and poll every second as a safety net."""

    def __init__(
        self,
        db: Database,
        *,
        retention_seconds: float,
        redis_url: str = "",
        poll_interval: float | None = None,
        clock: Callable[[], float] = time.time,
        kind: str = "",
    ) -> None:
        # `kind` names a second log of each sandbox in tables of its own (network: the egress
        # proxy's requests); "" is the output log.
        suffix = f"_{kind}" if kind else ""
        self.logs_table = LOGS_TABLE.replace("sandbox_", f"sandbox{suffix}_", 1)
        self.chunks_table = CHUNKS_TABLE.replace("sandbox_", f"sandbox{suffix}_", 1)
        self.db = db
        self.retention_seconds = retention_seconds
        self.clock = clock
        self.waiters = _Waiters()
        self.fanout = _RedisFanout(redis_url, self.waiters, CHANNEL + suffix) if redis_url else None
        self.poll_interval = poll_interval or (1.0 if self.fanout else 0.1)
        self._create_tables()

    def _create_tables(self) -> None:
        blob = "BYTEA" if self.db.dialect == "postgresql" else "BLOB"
        real = "DOUBLE PRECISION" if self.db.dialect == "postgresql" else "REAL"
        with self.db.transaction() as cur:
            if self.db.dialect == "postgresql":
                # The lock every schema change takes (infra/projections/manager.py): processes
                # starting together (CLI commands, serve children) would otherwise race on the
                # catalog ("tuple concurrently updated").
                cur.execute("SELECT pg_advisory_xact_lock(7361928)")
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.logs_table} (sandbox_id TEXT PRIMARY KEY,"
                f" closed_at {real}, expired INTEGER NOT NULL DEFAULT 0)"
            )
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.chunks_table} (sandbox_id TEXT NOT NULL,"
                f" seq BIGINT NOT NULL, data {blob} NOT NULL, PRIMARY KEY (sandbox_id, seq))"
            )

    # --- writing (the runner) -------------------------------------------------------------

    def append(self, sandbox_id: str, seq: int, data: bytes) -> None:
        """Durable when it returns; appending the same seq again (a re-attached runner) is
        a no-op."""
        if not data:
            return
        with self.db.transaction() as cur:
            cur.execute(
                f"INSERT INTO {self.chunks_table} (sandbox_id, seq, data) VALUES (?, ?, ?)"
                " ON CONFLICT (sandbox_id, seq) DO NOTHING",
                (sandbox_id, seq, bytes(data)),
            )
        self._notify(sandbox_id)

    def close(self, sandbox_id: str) -> None:
        with self.db.transaction() as cur:
            cur.execute(
                f"INSERT INTO {self.logs_table} (sandbox_id, closed_at, expired) VALUES (?, ?, 0)"
                " ON CONFLICT (sandbox_id) DO NOTHING",
                (sandbox_id, self.clock()),
            )
        self._notify(sandbox_id)

    def expire(self, sandbox_id: str) -> None:
        with self.db.transaction() as cur:
            cur.execute(
                f"INSERT INTO {self.logs_table} (sandbox_id, closed_at, expired) VALUES (?, ?, 1)"
                " ON CONFLICT (sandbox_id) DO UPDATE SET expired = 1",
                (sandbox_id, self.clock()),
            )
            cur.execute(f"DELETE FROM {self.chunks_table} WHERE sandbox_id = ?", (sandbox_id,))
        self._notify(sandbox_id)

    def purge_expired(self) -> int:
        """Delete the chunks of every log past retention; the number of logs purged."""
        cutoff = self.clock() - self.retention_seconds
        rows = self.db.query(
            f"SELECT sandbox_id FROM {self.logs_table} WHERE expired = 0 AND closed_at <= ?",
            (cutoff,),
        )
        for row in rows:
            self.expire(row["sandbox_id"])
        return len(rows)

    def _notify(self, sandbox_id: str) -> None:
        self.waiters.notify(sandbox_id)
        if self.fanout is not None:
            self.fanout.publish(sandbox_id)

    # --- reading (any API process) --------------------------------------------------------

    def state(self, sandbox_id: str) -> LogState:
        row = self.db.query_one(
            f"SELECT closed_at, expired FROM {self.logs_table} WHERE sandbox_id = ?", (sandbox_id,)
        )
        if row is None:
            return "open"
        if row["expired"] or row["closed_at"] <= self.clock() - self.retention_seconds:
            return "expired"
        return "closed"

    def read(self, sandbox_id: str, after_seq: int) -> tuple[list[tuple[int, bytes]], bool]:
        """Chunks after `after_seq` (up to about `READ_BYTES`) and whether the log is closed
        and nothing is left after them; `Gone` once expired."""
        state = self.state(sandbox_id)
        if state == "expired":
            raise Gone(EXPIRED_MESSAGE)
        rows = self.db.query(
            f"SELECT seq, data FROM {self.chunks_table} WHERE sandbox_id = ? AND seq > ?"
            " ORDER BY seq LIMIT 256",
            (sandbox_id, after_seq),
        )
        chunks: list[tuple[int, bytes]] = []
        size = 0
        for row in rows:
            chunks.append((int(row["seq"]), bytes(row["data"])))
            size += len(row["data"])
            if size >= READ_BYTES:
                break
        # Closed only counts once this read reached the end: the state was read first, so
        # every chunk appended before the close is in `rows` unless the page was full.
        closed = state == "closed" and len(chunks) == len(rows) and len(rows) < 256
        return chunks, closed

    def extent(self, sandbox_id: str) -> tuple[int, int]:
        """(last seq, total bytes) of a log: where a re-attached runner resumes (`read`
        returns one page, not the whole log)."""
        row = self.db.query_one(
            f"SELECT MAX(seq) AS last, SUM(LENGTH(data)) AS size FROM {self.chunks_table}"
            " WHERE sandbox_id = ?",
            (sandbox_id,),
        )
        if row is None or row["last"] is None:
            return 0, 0
        return int(row["last"]), int(row["size"] or 0)

    def token(self, sandbox_id: str) -> int:
        """Take before `read`; `wait(…, token)` then returns at once if anything was
        appended since."""
        return self.waiters.token(sandbox_id)

    def wait(self, sandbox_id: str, token: int, timeout: float | None = None) -> bool:
        """Block until an append after `token` or the poll interval passes."""
        if self.fanout is not None:
            self.fanout.ensure_subscribed()
        return self.waiters.wait(sandbox_id, token, timeout or self.poll_interval)

    async def wait_async(self, sandbox_id: str, token: int, timeout: float | None = None) -> bool:
        if self.fanout is not None:
            self.fanout.ensure_subscribed()
        return await self.waiters.wait_async(sandbox_id, token, timeout or self.poll_interval)

    def shutdown(self) -> None:
        if self.fanout is not None:
            self.fanout.close()


class LogJanitor:
    """Deletes expired logs every `interval` seconds (a background worker; idempotent, so
    several processes may run it)."""

    def __init__(self, store: SqlLogStore, interval: float) -> None:
        self.store = store
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval <= 0:
            return
        self._thread = threading.Thread(target=self._run, name="sandbox-log-janitor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                purged = self.store.purge_expired()
            except Exception as e:
                log.warning("sandbox_logs.purge_failed", error=str(e))
            else:
                if purged:
                    log.info("sandbox_logs.purged", logs=purged)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def log_store(db: Database, settings: Settings, kind: str = "") -> SqlLogStore:
    """The store a process uses, from its settings (its janitor: `LogJanitor(store,
    janitor_interval(settings))`); `kind="network"` is the egress proxy's request log."""
    return SqlLogStore(
        db,
        retention_seconds=settings.sandbox_log_retention_seconds,
        redis_url=settings.redis_url,
        kind=kind,
    )


def janitor_interval(settings: Settings) -> float:
    """Purge often enough that expired logs do not linger long past their retention."""
    return max(1.0, min(300.0, settings.sandbox_log_retention_seconds / 10))
