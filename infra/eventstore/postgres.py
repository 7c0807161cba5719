"""PostgreSQL recorder tuned to fail fast: no silent ten-fold retry on a saturated pool."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg_pool
from eventsourcing.persistence import Notification, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from domain.shared.errors import Unavailable
from infra.sql.database import _PgCursor

T = TypeVar("T")


def _once_more_on_broken_connection(call: Callable[[], T]) -> T:
    """One retry for a dropped connection; a pool timeout becomes `Unavailable` at once."""
    for attempt in (1, 2):
        try:
            return call()
        except OperationalError as e:
            if isinstance(e.__cause__, psycopg_pool.PoolTimeout | psycopg_pool.TooManyRequests):
                raise Unavailable(
                    "the event store is saturated; retry shortly", retry_after=1
                ) from e
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class TildePostgresApplicationRecorder(PostgresApplicationRecorder):
    """The library's default insert path, minus its 10 x 0.2 s retry loop on pool timeouts,
    plus an optional inline projection run in the same transaction as the insert."""

    def _insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        inline = kwargs.get("inline")
        if inline is not None:
            inline(_PgCursor(curs), stored_events)
            # Sync the pipeline now: an error in the projection must surface here, before the
            # event store's own prepared statements are queued behind it on this connection
            # (an aborted pipeline would leave psycopg believing they were prepared).
            with curs.connection.pipeline():
                pass
        super()._insert_events(curs, stored_events, **kwargs)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        insert = PostgresApplicationRecorder.insert_events.__wrapped__  # type: ignore[attr-defined]
        return _once_more_on_broken_connection(lambda: insert(self, stored_events, **kwargs))

    def select_events(self, *args: Any, **kwargs: Any) -> Sequence[StoredEvent]:
        select = PostgresApplicationRecorder.select_events.__wrapped__  # type: ignore[attr-defined]
        return _once_more_on_broken_connection(lambda: select(self, *args, **kwargs))

    def select_notifications(self, *args: Any, **kwargs: Any) -> Sequence[Notification]:
        select = PostgresApplicationRecorder.select_notifications.__wrapped__  # type: ignore[attr-defined]
        return _once_more_on_broken_connection(lambda: select(self, *args, **kwargs))

    def max_notification_id(self) -> int | None:
        select = PostgresApplicationRecorder.max_notification_id.__wrapped__  # type: ignore[attr-defined]
        return _once_more_on_broken_connection(lambda: select(self))
