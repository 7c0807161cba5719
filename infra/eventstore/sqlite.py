"""SQLite recorder: appends in `BEGIN IMMEDIATE` transactions, with an optional inline
projection in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteTransaction

from infra.sql.database import _SqliteCursor


class _ImmediateTransaction(SQLiteTransaction):
    """The library's transaction, begun with `BEGIN IMMEDIATE`: the write lock is taken first
    (waiting up to the busy timeout for another process's writer). A deferred `BEGIN` whose
    first statement reads — the inline projection does — holds a snapshot, and if another
    process commits before its first write, SQLite refuses that write at once ("database is
    locked", SQLITE_BUSY_SNAPSHOT): no busy timeout applies, the append just fails."""

    def __enter__(self) -> SQLiteCursor:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        return cursor


class TildeSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """Runs `inline(cursor, stored_events)` inside the transaction that appends the events,
    so views that must never lag (the catalog) commit or roll back with them. Appends take the
    write lock when they begin (`_ImmediateTransaction`), so processes sharing one data
    directory wait for each other instead of failing."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        with (
            self.datastore.get_connection(commit=True) as conn,
            _ImmediateTransaction(conn, commit=True) as cursor,
            cursor,
        ):
            return self._insert_events(cursor, stored_events, **kwargs)

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        inline = kwargs.get("inline")
        if inline is not None:
            inline(_SqliteCursor(c.sqlite_cursor), stored_events)
        return super()._insert_events(c, stored_events, **kwargs)
