"""PostgreSQL recorder tuned to fail fast: no silent ten-fold retry on a saturated pool."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar
from uuid import UUID

import psycopg
import psycopg_pool
from eventsourcing import persistence
from eventsourcing.persistence import Notification, OperationalError, StoredEvent
from eventsourcing.postgres import (
    BasePostgresFactory,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.utils import Environment
from psycopg.sql import SQL, Composed, Identifier, Literal
from psycopg.types.composite import register_composite

from domain.shared.errors import Unavailable
from infra.sql.bridge import LoopConnection, checkout, on_loop
from infra.sql.database import DeferredPgCursor

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


# psycopg's errors as the library's `get_connection` translates them (most specific first).
_TRANSLATED: tuple[tuple[type[Exception], type[Exception]], ...] = (
    (psycopg.InterfaceError, persistence.InterfaceError),
    (psycopg.OperationalError, persistence.OperationalError),
    (psycopg.DataError, persistence.DataError),
    (psycopg.IntegrityError, persistence.IntegrityError),
    (psycopg.InternalError, persistence.InternalError),
    (psycopg.ProgrammingError, persistence.ProgrammingError),
    (psycopg.NotSupportedError, persistence.NotSupportedError),
    (psycopg.DatabaseError, persistence.DatabaseError),
    (psycopg.Error, persistence.PersistenceError),
)


class _DeferredCursor(DeferredPgCursor):
    """The inline projection's cursor on an append (`projections.base.Cursor`): statements
    are bound client-side and held, to go out in one simple query with the append's own
    (`finish`). A read (`fetchone`, `fetchall`, `rowcount`) first sends what is held, so it
    sees the last statement's result, as on any cursor."""

    def finish(self, *statements: str) -> list[int]:
        """Send what is held and `statements` (the last an INSERT … RETURNING), then COMMIT;
        the notification ids the INSERT returned."""
        self._held.extend(statements)
        self._held.append("COMMIT")
        self._cursor.execute("; ".join(self._held))
        self._held = []
        ids: list[int] = []
        while True:
            described = self._cursor.description  # the INSERT's RETURNING comes last
            if described is not None and described[0].name == "notification_id":
                ids = [row["notification_id"] for row in self._cursor.fetchall()]
            if not self._cursor.nextset():
                return ids


class TildePostgresDatastore(PostgresDatastore):
    """The library's datastore whose pool hands out `LoopConnection`s: inside
    `infra.sql.bridge.run_on_loop` a connection is taken only when one is idle (otherwise
    `WouldBlock`) and its waits go to the event loop; elsewhere it is the library's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool.connection_class = LoopConnection

    @contextlib.contextmanager
    def get_connection(self) -> Iterator[Any]:
        if not on_loop():
            with super().get_connection() as conn:
                yield conn
            return
        try:
            conn = checkout(self.pool)
        except psycopg_pool.PoolTimeout as e:
            raise persistence.OperationalError(str(e)) from e  # as the library's (a 503)
        try:
            for info in self.psycopg_type_adapters.values():  # as the library's does
                if not conn.adapters.types.get(info.oid):
                    register_composite(info, conn)
            yield conn
        except psycopg.Error as e:
            for raised, translated in _TRANSLATED:
                if isinstance(e, raised):
                    raise translated(str(e)) from e
            raise
        finally:
            self.pool.putconn(conn)


class TildePostgresApplicationRecorder(PostgresApplicationRecorder):
    """The library's recorder with its own insert path (`_insert`): no 10 x 0.2 s retry loop
    on pool timeouts, an optional inline projection run in the same transaction as the
    insert, and a NOTIFY payload naming the sender and the event types (`notify_payload`)."""

    notify_sender = ""  # set by the container that owns this recorder
    supports_expect = True  # `insert_events(…, expect=[(originator id, version), …])`
    _insert_sql: str | None = None
    _guard_sql: tuple[str, str] | None = None
    # The lock-and-NOTIFY prelude of each payload seen (few: a sender and a set of topics).
    _preludes: dict[str, tuple[str, str]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._preludes = {}
        self._selects: dict[tuple[bool, bool, bool, bool], bytes] = {}
        self._select_after_sql: dict[int, bytes] = {}

    def _create_table(self, curs: Any) -> None:
        # The library replaces its insert function (CREATE OR REPLACE FUNCTION) at every
        # start: processes starting together fail with "tuple concurrently updated" unless
        # they take turns — under the lock every schema change takes (infra/projections/manager.py).
        curs.execute("SELECT pg_advisory_xact_lock(7361928)")
        super()._create_table(curs)
        curs.execute(self._create_guard_statement(), prepare=False)

    def _guard_function(self) -> Composed:
        return SQL("{schema}.{function}").format(
            schema=Identifier(self.datastore.schema),
            function=Identifier(f"{self.events_table_name}_expect"),
        )

    def _create_guard_statement(self) -> Composed:
        """The expected-version guard (`_guard`) as a function made once with the table:
        compiled once per connection, its query planned once, where a `DO` block was
        compiled and planned again at every append (≈ 0.1 ms of the server's CPU each)."""
        return SQL(
            "CREATE OR REPLACE FUNCTION {function}(ids {id_type}[], versions bigint[])"
            " RETURNS void LANGUAGE plpgsql AS $guard$ BEGIN"
            " IF EXISTS (SELECT FROM unnest(ids, versions) AS w(id, v)"
            " WHERE (SELECT max(e.originator_version) FROM {schema}.{table} e"
            " WHERE e.originator_id = w.id) IS DISTINCT FROM w.v) THEN"
            " RAISE EXCEPTION 'a stream moved past the version expected'"
            " USING ERRCODE = 'unique_violation'; END IF; END $guard$"
        ).format(
            function=self._guard_function(),
            id_type=SQL(self.datastore.originator_id_type),
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
        )

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return None
        return _once_more_on_broken_connection(lambda: self._insert(stored_events, **kwargs))

    def _insert(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> list[int]:
        """The library's insert as one simple query: `BEGIN; SET LOCAL lock_timeout`, the
        inline projection's statements, `LOCK TABLE … IN EXCLUSIVE MODE` (notification ids
        follow commit order), `NOTIFY`, the INSERT … RETURNING notification_id, `COMMIT`.
        Parameters are bound client-side (psycopg's `ClientCursor`, the server's quoting
        rules), so the whole append is one round trip and the table lock is held for the
        server's own work only, not across round trips to this process. An inline
        projection that reads (`fetchone`…) sends what it has so far first
        (`_DeferredCursor`). A failure anywhere leaves nothing: the transaction is rolled
        back, and the error is the library's (a lost version race is its IntegrityError).

        `expect`: (originator id, version) pairs whose streams must still end at that
        version: checked in the transaction once the table lock is held (every append
        takes it, so none can commit between the check and this append's commit), and
        failing as a lost version race does (SQLSTATE 23505, the library's IntegrityError)
        with nothing written. A caller that checked aggregates as last read here appends
        without reading them again."""
        expect = kwargs.get("expect")
        with self.datastore.get_connection() as conn:
            assert conn.autocommit  # BEGIN … COMMIT below is the only transaction
            try:
                with psycopg.ClientCursor(conn) as curs:
                    head, lock = self._prelude(conn, [e.topic for e in stored_events])
                    if expect:
                        # Once the table lock is held: no other append can commit between
                        # the check and this one's commit.
                        lock = f"{lock}; {self._guard(conn, expect)}"
                    deferred = _DeferredCursor(curs, head)
                    inline = kwargs.get("inline")
                    if inline is not None:
                        inline(deferred, stored_events)
                    ids = deferred.finish(lock, self._insert_values(conn, curs, stored_events))
            except BaseException:
                with contextlib.suppress(Exception):  # a broken connection: the pool drops it
                    conn.rollback()  # nothing of it stays (and the connection goes back idle)
                raise
            return ids

    def _prelude(self, conn: Any, topics: list[str]) -> tuple[str, str]:
        """(`BEGIN; SET LOCAL lock_timeout …`, `LOCK TABLE … IN EXCLUSIVE MODE; NOTIFY
        channel, payload`): the library's lock statements and NOTIFY, built once per
        payload."""
        payload = notify_payload(self.notify_sender, topics)
        prelude = self._preludes.get(payload)
        if prelude is None:
            notify = SQL("NOTIFY {0}, {1}").format(Identifier(self.channel_name), Literal(payload))
            rendered = [
                s if isinstance(s, str) else s.as_string(conn)  # type: ignore[union-attr]
                for s in self.lock_table_statements
            ]
            locks = [s for s in rendered if s.lstrip().upper().startswith("LOCK")]
            head = ["BEGIN", *(s for s in rendered if s not in locks)]
            prelude = ("; ".join(head), "; ".join([*locks, notify.as_string(conn)]))
            if len(self._preludes) >= _PRELUDES:
                self._preludes.clear()
            self._preludes[payload] = prelude
        return prelude

    def _guard(self, conn: Any, expect: Sequence[tuple[Any, int]]) -> str:
        """A call of the guard function (made with the table) raising unique_violation
        unless each stream ends at its version. Its values are inlined as a UUID's and an
        integer's canonical text (nothing else passes `UUID()` and `int()`), so the call
        needs no parameters."""
        if self._guard_sql is None:
            self._guard_sql = (
                f"SELECT {self._guard_function().as_string(conn)}",
                self.datastore.originator_id_type,
            )
        call, id_type = self._guard_sql
        ids = ",".join(str(UUID(str(i))) for i, _ in expect)
        versions = ",".join(str(int(v)) for _, v in expect)
        return f"{call}('{{{ids}}}'::{id_type}[], '{{{versions}}}'::bigint[])"

    def _insert_values(
        self, conn: Any, curs: psycopg.ClientCursor[Any], stored_events: Sequence[StoredEvent]
    ) -> str:
        """The INSERT … VALUES … RETURNING notification_id of `stored_events`, bound."""
        if self._insert_sql is None:
            self._insert_sql = (
                SQL(
                    "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state)"
                )
                .format(
                    schema=Identifier(self.datastore.schema),
                    table=Identifier(self.events_table_name),
                )
                .as_string(conn)
            )
        values = ", ".join(["(%s, %s, %s, %s)"] * len(stored_events))
        params: list[Any] = []
        for e in stored_events:
            params += (e.originator_id, e.originator_version, e.topic, e.state)
        return curs.mogrify(f"{self._insert_sql} VALUES {values} RETURNING notification_id", params)

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
                params: list[Any] = []
                for pair in after:
                    params += pair
                curs.execute(self._select_after_statement(conn, len(after)), params, prepare=True)
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

    def _select_after_statement(self, conn: Any, pairs: int) -> bytes:
        """`UNION ALL` of one primary-key range per pair, ordered by (id, version); composed
        once per number of pairs (a request asks for one or two).

        Each version bound is a sub-select (`(SELECT %s::bigint)`), which hides its value
        from the planner: PostgreSQL then costs the plan made once for the statement (its
        generic plan) as it costs one made for the values, and keeps it, instead of
        planning again at every call. A plain `> %s` looks far more selective with the
        value known (the newest version: no row), so every call was planned afresh, which
        costs the server about as much as running it. The bound is still an index
        condition of the scan. An `unnest` of two arrays joined to the table did worse:
        its generic plan, picked whenever the table was young, was a hash join over a
        sequential scan of the whole table (`tests/integration/test_eventstore_plans.py`)."""
        statement = self._select_after_sql.get(pairs)
        if statement is None:
            branch = SQL(
                "SELECT originator_id, originator_version, topic, state FROM {schema}.{table}"
                " WHERE originator_id = %s AND originator_version > (SELECT %s::bigint)"
            ).format(
                schema=Identifier(self.datastore.schema),
                table=Identifier(self.events_table_name),
            )
            query = SQL(" UNION ALL ").join([branch] * pairs) + SQL(" ORDER BY 1, 2")
            statement = self._select_after_sql[pairs] = query.as_bytes(conn)
        return statement

    def _select_statement(self, conn: Any, shape: tuple[bool, bool, bool, bool]) -> bytes:
        """The library's select of one stream, composed once per shape; its version bounds
        are sub-selects, so its generic plan is kept (see `_select_after_statement`)."""
        statement = self._selects.get(shape)
        if statement is None:
            has_gt, has_lte, desc, has_limit = shape
            query = self.select_events_statement
            if has_gt:
                query += SQL(" AND originator_version > (SELECT %s::bigint)")
            if has_lte:
                query += SQL(" AND originator_version <= (SELECT %s::bigint)")
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
