"""SQLite recorder with an optional inline projection in the insert transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from infra.sql.database import _SqliteCursor


class TildeSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """Runs `inline(cursor, stored_events)` inside the transaction that appends the events,
    so views that must never lag (the catalog) commit or roll back with them."""

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        inline = kwargs.get("inline")
        if inline is not None:
            inline(_SqliteCursor(c.sqlite_cursor), stored_events)
        return super()._insert_events(c, stored_events, **kwargs)
