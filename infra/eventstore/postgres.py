"""PostgreSQL recorder tuned to fail fast: no silent ten-fold retry on a saturated pool."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg_pool
from eventsourcing.persistence import Notification, OperationalError, StoredEvent
from eventsourcing.postgres import (
    BasePostgresFactory,
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
_PRELUDES = 1_000


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
    """The library's recorder with its own insert path (`_insert`): no 10 x 0.2 s retry loop
    on pool timeouts, an optional inline projection run in the same transaction as the
    insert, and a NOTIFY payload naming the sender and the event types (`notify_payload`)."""

    notify_sender = ""  # set by the container that owns this recorder
    _insert_sql: bytes | None = None
    _select_after_sql: bytes | None = None
    # The lock-and-NOTIFY prelude of each payload seen (few: a sender and a set of topics).
    _preludes: dict[str, bytes]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._preludes = {}
        self._selects: dict[tuple[bool, bool, bool, bool], bytes] = {}

    def _create_table(self, curs: Any) -> None:
        # The library replaces its insert function (CREATE OR REPLACE FUNCTION) at every
        # start: processes starting together fail with "tuple concurrently updated" unless
        # they take turns — under the lock every schema change takes (infra/projections/manager.py).
        curs.execute("SELECT pg_advisory_xact_lock(7361928)")
        super()._create_table(curs)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return None
        return _once_more_on_broken_connection(lambda: self._insert(stored_events, **kwargs))

    def _insert(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> list[int]:
        """The library's insert without pipeline mode (its per-statement bookkeeping cost more
        CPU than the round trips it saved): one simple query opens the transaction, takes the
        table lock (notification ids follow commit order) and sends the NOTIFY; then the
        inline projection; then one prepared INSERT of plain arrays; then COMMIT."""
        with self.datastore.get_connection() as conn:
            assert conn.autocommit  # BEGIN … COMMIT below is the only transaction
            try:
                with conn.cursor() as curs:
                    curs.execute(self._prelude(conn, [e.topic for e in stored_events]))
                    inline = kwargs.get("inline")
                    if inline is not None:
                        inline(_PgCursor(curs), stored_events)
                    curs.execute(
                        self._insert_statement(conn),
                        (
                            [e.originator_id for e in stored_events],
                            [e.originator_version for e in stored_events],
                            [e.topic for e in stored_events],
                            [e.state for e in stored_events],
                        ),
                        prepare=True,
                    )
                    ids = [row["notification_id"] for row in curs.fetchall()]
                    curs.execute(b"COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):  # a broken connection: the pool drops it
                    conn.rollback()  # nothing of it stays (and the connection goes back idle)
                raise
            return ids

    def _prelude(self, conn: Any, topics: list[str]) -> bytes:
        """`BEGIN; SET LOCAL lock_timeout; LOCK TABLE … IN EXCLUSIVE MODE; NOTIFY channel,
        payload` (the library's insert path sends the same), built once per payload."""
        payload = notify_payload(self.notify_sender, topics)
        prelude = self._preludes.get(payload)
        if prelude is None:
            notify = SQL("NOTIFY {0}, {1}").format(Identifier(self.channel_name), Literal(payload))
            statements = [SQL("BEGIN"), *self.lock_table_statements, notify]
            prelude = SQL("; ").join(statements).as_bytes(conn)  # type: ignore[arg-type]
            if len(self._preludes) >= _PRELUDES:
                self._preludes.clear()
            self._preludes[payload] = prelude
        return prelude

    def _insert_statement(self, conn: Any) -> bytes:
        if self._insert_sql is None:
            self._insert_sql = (
                SQL(
                    "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)"
                    " SELECT * FROM unnest(%s::{id_type}[], %s::bigint[], %s::text[], %s::bytea[])"
                    " RETURNING notification_id"
                )
                .format(
                    schema=Identifier(self.datastore.schema),
                    table=Identifier(self.events_table_name),
                    id_type=SQL(self.datastore.originator_id_type),
                )
                .as_bytes(conn)
            )
        return self._insert_sql

    def select_events(
        self,
        originator_id: Any,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The library's query, its statement composed once per shape instead of per call
        (an aggregate's fast-forward runs it on every load)."""
        params: list[Any] = [originator_id]
        for value in (gt, lte, limit):
            if value is not None:
                params.append(value)
        shape = (gt is not None, lte is not None, desc, limit is not None)

        def select() -> list[StoredEvent]:
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(self._select_statement(conn, shape), params, prepare=True)
                return [
                    StoredEvent(
                        originator_id=row["originator_id"],
                        originator_version=row["originator_version"],
                        topic=row["topic"],
                        state=bytes(row["state"]),
                    )
                    for row in curs.fetchall()
                ]

        return _once_more_on_broken_connection(select)

    def select_events_after(self, after: Sequence[tuple[Any, int]]) -> dict[Any, list[StoredEvent]]:
        """The events of several aggregates after the version held of each, in one prepared
        query (each pair an index range scan of the primary key): the fast-forwards of a
        request's cached aggregates in one round trip (`TildeApplication.peek_many`)."""
        if not after:
            return {}

        def select() -> dict[Any, list[StoredEvent]]:
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(
                    self._select_after_statement(conn),
                    ([i for i, _ in after], [v for _, v in after]),
                    prepare=True,
                )
                found: dict[Any, list[StoredEvent]] = {}
                for row in curs.fetchall():
                    found.setdefault(row["originator_id"], []).append(
                        StoredEvent(
                            originator_id=row["originator_id"],
                            originator_version=row["originator_version"],
                            topic=row["topic"],
                            state=bytes(row["state"]),
                        )
                    )
                return found

        return _once_more_on_broken_connection(select)

    def _select_after_statement(self, conn: Any) -> bytes:
        if self._select_after_sql is None:
            self._select_after_sql = (
                SQL(
                    "SELECT e.originator_id, e.originator_version, e.topic, e.state"
                    " FROM unnest(%s::{id_type}[], %s::bigint[]) AS w(id, after)"
                    " JOIN {schema}.{table} e"
                    " ON e.originator_id = w.id AND e.originator_version > w.after"
                    " ORDER BY e.originator_id, e.originator_version"
                )
                .format(
                    schema=Identifier(self.datastore.schema),
                    table=Identifier(self.events_table_name),
                    id_type=SQL(self.datastore.originator_id_type),
                )
                .as_bytes(conn)
            )
        return self._select_after_sql

    def _select_statement(self, conn: Any, shape: tuple[bool, bool, bool, bool]) -> bytes:
        statement = self._selects.get(shape)
        if statement is None:
            has_gt, has_lte, desc, has_limit = shape
            query = self.select_events_statement
            if has_gt:
                query += SQL(" AND originator_version > %s")
            if has_lte:
                query += SQL(" AND originator_version <= %s")
            query += SQL(" ORDER BY originator_version") + SQL(" DESC" if desc else " ASC")
            if has_limit:
                query += SQL(" LIMIT %s")
            statement = self._selects[shape] = query.as_bytes(conn)
        return statement

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
