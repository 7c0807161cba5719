"""PostgreSQL recorder tuned to fail fast: no silent ten-fold retry on a saturated pool."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg_pool
from eventsourcing.persistence import Notification, OperationalError, StoredEvent
from eventsourcing.postgres import (
    BasePostgresFactory,
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.utils import Environment
from psycopg.sql import SQL, Identifier, Literal

from domain.shared.errors import Unavailable
from infra.sql.database import _PgCursor

T = TypeVar("T")
# NOTIFY payloads are limited to 8,000 bytes; beyond this the topics are left out ("any").
_MAX_PAYLOAD = 7_000


def notify_payload(sender: str, topics: Sequence[str]) -> str:
    """`<sender>\t<topic>,<topic>…`: who appended (a container's token, so it can ignore its
    own writes, which woke its projectors already) and which event types, so listeners wake
    only the projectors interested in them. `*` when the topics do not fit."""
    payload = f"{sender}\t{','.join(sorted(set(topics)))}"
    return payload if len(payload) <= _MAX_PAYLOAD else f"{sender}\t*"


def parse_notify_payload(payload: str) -> tuple[str, frozenset[str] | None]:
    """(sender, topics); topics None when unknown (an empty or foreign payload, or `*`)."""
    sender, tab, topics = payload.partition("\t")
    if not tab or not topics or topics == "*":
        return sender, None
    return sender, frozenset(topics.split(","))


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
    plus an optional inline projection run in the same transaction as the insert, and a
    NOTIFY payload naming the sender and the event types (see `notify_payload`)."""

    notify_sender = ""  # set by the container that owns this recorder

    def _create_table(self, curs: Any) -> None:
        # The library replaces its insert function (CREATE OR REPLACE FUNCTION) at every
        # start: processes starting together fail with "tuple concurrently updated" unless
        # they take turns — under the lock every schema change takes (infra/projections/manager.py).
        curs.execute("SELECT pg_advisory_xact_lock(7361928)")
        super()._create_table(curs)

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

    def _insert_stored_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        self._lock_table(curs)
        payload = notify_payload(self.notify_sender, [e.topic for e in stored_events])
        curs.execute(SQL("NOTIFY {0}, {1}").format(Identifier(self.channel_name), Literal(payload)))
        PostgresAggregateRecorder._insert_stored_events(self, curs, stored_events, **kwargs)

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


class SharedPostgresFactory(PostgresFactory):
    """The library's PostgreSQL factory on a datastore (one connection pool) that every
    application of the process shares: the composition root owns and closes it."""

    def __init__(self, env: Environment, datastore: PostgresDatastore) -> None:
        # Skips BasePostgresFactory.__init__, which would open a pool per application.
        super(BasePostgresFactory, self).__init__(env)
        self.datastore = datastore

    def close(self) -> None:
        """The pool outlives any one application."""
