"""The read-model database: SQLite (embedded) or a PostgreSQL pool, behind one interface.

SQL is written with `?` placeholders; the PostgreSQL adapter rewrites them to `%s`. Rows come
back as dicts. A saturated PostgreSQL pool fails fast with `Unavailable` (503), never hangs.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import psycopg
import psycopg_pool
from psycopg import pq
from psycopg.rows import dict_row

from application.nonblocking import WouldBlock, waiting_allowed
from domain.shared.errors import Unavailable
from infra.sql.bridge import LoopConnection, checkout, on_loop


class Database(Protocol):
    """Transactions for projectors, queries for readers."""

    dialect: str

    def transaction(self, *, pipeline: bool = False, batch: bool = False) -> Any: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None: ...

    def close(self) -> None: ...


class _SqliteCursor:
    """DB-API cursor returning dict rows."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _SqliteCursor:
        self._cursor.execute(sql, tuple(params))
        return self

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> _SqliteCursor:
        self._cursor.executemany(sql, [tuple(p) for p in params])
        return self

    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> _SqliteCursor:
        return self.executemany(_insert_sql(table, columns), rows)

    def _row(self, row: tuple[Any, ...]) -> dict[str, Any]:
        names = [d[0] for d in self._cursor.description or ()]
        return dict(zip(names, row, strict=False))

    def fetchone(self) -> dict[str, Any] | None:
        row = self._cursor.fetchone()
        return None if row is None else self._row(row)

    def fetchall(self) -> list[dict[str, Any]]:
        return [self._row(r) for r in self._cursor.fetchall()]


# Reads go through a memory map of the file (up to this size) instead of a read() into each
# connection's own 2 MiB page cache: with 100,000 entries a repository's catalog outgrows that
# cache, and a diff of 1,000 paths re-read evicted pages one system call each (mapped, its
# p50 fell 6-8 % in interleaved runs; a cold authorization decision's 917 → 609 µs). The map
# is shared by every connection through the OS page cache; writes still go through the WAL.
MMAP_SIZE = 1 << 30


class SqliteDatabase:
    """A SQLite file in WAL mode; one connection per thread, writers serialized."""

    dialect = "sqlite"

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 10_000) -> None:
        self.path = str(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self.busy_timeout_ms / 1000,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            conn.execute(f"PRAGMA mmap_size={MMAP_SIZE}")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(
        self, *, pipeline: bool = False, batch: bool = False
    ) -> Iterator[_SqliteCursor]:
        conn = self._connection()
        waiting = waiting_allowed()
        if not self._write_lock.acquire(blocking=waiting):
            raise WouldBlock("another thread is writing")
        try:
            if waiting:
                conn.execute("BEGIN IMMEDIATE")
            else:
                begin_without_waiting(conn.cursor())
            try:
                yield _SqliteCursor(conn.cursor())
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            self._write_lock.release()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return _SqliteCursor(self._connection().cursor()).execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        return _SqliteCursor(self._connection().cursor()).execute(sql, params).fetchone()

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                with suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()


def begin_without_waiting(cursor: sqlite3.Cursor) -> None:
    """`BEGIN IMMEDIATE`, or `WouldBlock` at once (nothing begun) when another connection holds
    SQLite's write lock: the connection's busy timeout is 0 for that one statement."""
    timeout = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
    cursor.execute("PRAGMA busy_timeout=0")
    try:
        cursor.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as e:
        if e.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise WouldBlock("another process holds the database's write lock") from e
        raise
    finally:
        cursor.execute(f"PRAGMA busy_timeout={int(timeout)}")


# `insert_many` copies (PostgreSQL) from this many rows on; fewer go as statements.
COPY_FROM = 8


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


@lru_cache(maxsize=4096)
def _pg_sql(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class _PgCursor:
    """psycopg cursor speaking `?` placeholders.

    In pipeline mode results arrive asynchronously: a late result of an earlier statement can
    land on the cursor after a later statement was sent, and reading the cursor would report
    it. Reads (`fetchone`, `fetchall`, `rowcount`) therefore sync the pipeline first, so the
    cursor holds the result of its last statement.
    """

    def __init__(
        self, cursor: psycopg.Cursor[dict[str, Any]], pipeline: psycopg.Pipeline | None = None
    ) -> None:
        self._cursor = cursor
        self._pipeline = pipeline

    def _settle(self) -> None:
        if self._pipeline is not None:
            self._pipeline.sync()
        elif self._cursor.connection.pgconn.pipeline_status != pq.PipelineStatus.OFF:
            with self._cursor.connection.pipeline():
                pass  # someone else's pipeline: a nested block syncs it on exit

    @property
    def rowcount(self) -> int:
        self._settle()
        return self._cursor.rowcount

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _PgCursor:
        self._cursor.execute(_pg_sql(sql), tuple(params))  # type: ignore[arg-type]
        return self

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> _PgCursor:
        if len(params) == 1:  # psycopg's executemany enters pipeline mode even for one row
            self._cursor.execute(_pg_sql(sql), tuple(params[0]))  # type: ignore[arg-type]
        else:
            self._cursor.executemany(_pg_sql(sql), [tuple(p) for p in params])  # type: ignore[arg-type]
        return self

    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> _PgCursor:
        """Outside pipeline mode (where COPY is not allowed) and for more than a few rows,
        `COPY … FROM STDIN`: one stream instead of a statement per row (10,000 rows of
        `api_keys`: ~50 ms and 7 ms of CPU here, against ~360 ms and 150 ms through
        executemany's pipeline)."""
        if len(rows) < COPY_FROM or self._pipeline is not None:
            return self.executemany(_insert_sql(table, columns), rows)
        self._settle()
        with self._cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return self

    def fetchone(self) -> dict[str, Any] | None:
        self._settle()
        return self._cursor.fetchone()

    def fetchall(self) -> list[dict[str, Any]]:
        self._settle()
        return self._cursor.fetchall()


class DeferredPgCursor:
    """A cursor (`projections.base.Cursor`) whose statements are bound client-side (psycopg's
    `ClientCursor.mogrify`, the server's quoting rules) and held, to go out together in one
    simple query. A read (`fetchone`, `fetchall`, `rowcount`) first sends what is held, so it
    sees the last statement's result, as on any cursor. The event store's append and the
    live projector steps (`PostgresDatabase.transaction(batch=True)`) write through it."""

    def __init__(self, cursor: psycopg.ClientCursor[Any], head: str) -> None:
        self._cursor = cursor
        self._held: list[str] = [head]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> DeferredPgCursor:
        self._held.append(self._cursor.mogrify(_pg_sql(sql), tuple(params)))
        return self

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> DeferredPgCursor:
        statement = _pg_sql(sql)
        self._held.extend(self._cursor.mogrify(statement, tuple(p)) for p in params)
        return self

    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> DeferredPgCursor:
        return self.executemany(_insert_sql(table, columns), rows)

    def send(self, *statements: str) -> None:
        """Send what is held and `statements`; the cursor then holds the last result."""
        self._held.extend(statements)
        if self._held:
            held, self._held = self._held, []
            self._cursor.execute("; ".join(held))
            while self._cursor.nextset():  # to the last statement's result
                pass

    @property
    def rowcount(self) -> int:
        self.send()
        return self._cursor.rowcount

    def fetchone(self) -> dict[str, Any] | None:
        self.send()
        return self._cursor.fetchone()  # type: ignore[no-any-return]

    def fetchall(self) -> list[dict[str, Any]]:
        self.send()
        return self._cursor.fetchall()


class PostgresDatabase:
    """A bounded psycopg pool; waiting for a connection is capped in time and in queue length.

    `pool` shares an existing autocommit pool (the event store's: one pool per process)."""

    dialect = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        timeout: float = 2.0,
        max_waiting: int = 64,
        name: str = "views",
        pool: psycopg_pool.ConnectionPool[Any] | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.pool = pool or psycopg_pool.ConnectionPool(
            url,
            connection_class=LoopConnection,
            min_size=1,
            max_size=pool_size,
            timeout=timeout,
            max_waiting=max_waiting,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(timeout))},
            name=name,
            open=False,
        )
        self.pool.open(wait=False)

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        if on_loop():  # `infra.sql.bridge`: the wait for a connection awaited on the loop
            try:
                conn = checkout(self.pool)
            except psycopg_pool.PoolTimeout as e:
                raise Unavailable("the database is saturated; retry shortly", retry_after=1) from e
            try:
                yield conn
            finally:
                self.pool.putconn(conn)
            return
        try:
            with self.pool.connection(timeout=self.timeout) as conn:
                yield conn
        except (psycopg_pool.PoolTimeout, psycopg_pool.TooManyRequests) as e:
            raise Unavailable("the database is saturated; retry shortly", retry_after=1) from e

    @contextmanager
    def transaction(
        self, *, pipeline: bool = False, batch: bool = False
    ) -> Iterator[_PgCursor | DeferredPgCursor]:
        """A transaction on a pooled connection.

        `pipeline`: psycopg's pipeline mode: statements go out without waiting for each
        result, and the server works through them while this process binds the next ones.
        Best for many statements (a rebuild's batches of thousands), though each costs a
        bookkeeping step here.

        `batch`: the statements are held and sent together (`DeferredPgCursor`), `BEGIN` and
        `COMMIT` in the same simple query when nothing reads in between: one round trip for
        the few statements of a live projector step, where pipeline mode's per-statement
        steps and syncs cost more than the statements."""
        if not batch:
            with self._conn() as conn, conn.transaction():
                cur = conn.cursor(row_factory=dict_row)
                if pipeline:
                    with conn.pipeline() as p:
                        yield _PgCursor(cur, p)
                else:
                    yield _PgCursor(cur)
            return
        with self._conn() as conn:
            assert conn.autocommit  # BEGIN … COMMIT below is the only transaction
            try:
                with psycopg.ClientCursor(conn, row_factory=dict_row) as curs:
                    deferred = DeferredPgCursor(curs, "BEGIN")
                    yield deferred
                    deferred.send("COMMIT")
            except BaseException:
                with suppress(Exception):  # a broken connection: the pool drops it
                    conn.rollback()  # a BEGIN sent is rolled back; nothing else was
                raise

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._conn() as conn:
            return conn.cursor(row_factory=dict_row).execute(_pg_sql(sql), tuple(params)).fetchall()  # type: ignore[arg-type]

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        with self._conn() as conn:
            return conn.cursor(row_factory=dict_row).execute(_pg_sql(sql), tuple(params)).fetchone()  # type: ignore[arg-type]

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A raw pooled connection (advisory locks, LISTEN)."""
        with self._conn() as conn:
            yield conn

    def close(self) -> None:
        self.pool.close()
