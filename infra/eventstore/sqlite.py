"""SQLite recorder: appends in `BEGIN IMMEDIATE` transactions, with an optional inline
projection in the same transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ConnectionUnavailableError, IntegrityError, StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteCursor,
    SQLiteTransaction,
)

from application.nonblocking import WouldBlock, waiting_allowed
from infra.sql.database import _SqliteCursor, begin_without_waiting


class _ImmediateTransaction(SQLiteTransaction):
    """The library's transaction, begun with `BEGIN IMMEDIATE`: the write lock is taken first
    (waiting up to the busy timeout for another process's writer). A deferred `BEGIN` whose
    first statement reads — the inline projection does — holds a snapshot, and if another
    process commits before its first write, SQLite refuses that write at once ("database is
    locked", SQLITE_BUSY_SNAPSHOT): no busy timeout applies, the append just fails."""

    def __enter__(self) -> SQLiteCursor:
        cursor = self.connection.cursor()
        if waiting_allowed():
            cursor.execute("BEGIN IMMEDIATE")
        else:
            begin_without_waiting(cursor.sqlite_cursor)
        return cursor


class TildeSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """Runs `inline(cursor, stored_events)` inside the transaction that appends the events,
    so views that must never lag (the catalog) commit or roll back with them. Appends take the
    write lock when they begin (`_ImmediateTransaction`), so processes sharing one data
    directory wait for each other instead of failing. `expect`: (originator id, version)
    pairs whose streams must still end at that version, else the append fails with the
    library's `IntegrityError` (as a lost version race) and writes nothing."""

    supports_expect = True

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        with (
            self._writer() as conn,
            _ImmediateTransaction(conn, commit=True) as cursor,
            cursor,
        ):
            return self._insert_events(cursor, stored_events, **kwargs)

    @contextmanager
    def _writer(self) -> Iterator[SQLiteConnection]:
        """The pool's one writing connection; `WouldBlock` at once instead of waiting for it
        when waiting is not allowed (`application.nonblocking`)."""
        if waiting_allowed():
            with self.datastore.get_connection(commit=True) as conn:
                yield conn
            return
        pool = self.datastore.pool
        try:
            conn = pool.get_connection(timeout=0, is_writer=True)
        except ConnectionUnavailableError as e:
            raise WouldBlock("another thread is appending events") from e
        try:
            yield conn
        finally:
            pool.put_connection(conn)

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        for originator_id, version in kwargs.get("expect") or ():
            # In the write transaction: nothing else appends until it ends. Ids are stored as
            # the library stores them (a UUID's hex).
            c.execute(
                f"SELECT max(originator_version) FROM {self.events_table_name} "
                "WHERE originator_id = ?",
                (originator_id.hex if isinstance(originator_id, UUID) else originator_id,),
            )
            if c.fetchone()[0] != version:
                raise IntegrityError(f"stream {originator_id} moved past version {version}")
        inline = kwargs.get("inline")
        if inline is not None:
            inline(_SqliteCursor(c.sqlite_cursor), stored_events)
        return super()._insert_events(c, stored_events, **kwargs)
