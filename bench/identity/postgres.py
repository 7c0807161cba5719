"""The PostgreSQL baseline: raw psycopg on tables shaped like eventsourcing's, in the same
database as tilde's log."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg
from psycopg import sql

from bench.identity.config import (
    BASELINE_TABLE,
    BASELINE_TRACKING,
    BASELINE_VIEW,
    FOLD_BATCH,
    PAYLOAD_TOPIC,
    api_key_payload,
)


class PgWriter:
    """One connection inserting like eventsourcing's default path: one pipelined transaction
    taking the table lock, notifying the channel, inserting, returning the notification id."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.cur = self.conn.cursor()

    def insert(self) -> int:
        with self.conn.pipeline(), self.conn.transaction():
            self.cur.execute("SET LOCAL lock_timeout = '5s'")
            self.cur.execute(f"LOCK TABLE {BASELINE_TABLE} IN EXCLUSIVE MODE")
            self.cur.execute(f"NOTIFY {BASELINE_TABLE}")
            self.cur.execute(
                f"INSERT INTO {BASELINE_TABLE} (originator_id, originator_version, topic, state)"
                " VALUES (%s, 1, %s, %s) RETURNING notification_id",
                (uuid.uuid4(), PAYLOAD_TOPIC, api_key_payload()),
            )
            row = self.cur.fetchone()
        assert row is not None
        return int(row[0])

    def close(self) -> None:
        self.conn.close()


class PgBaseline:
    label = "raw psycopg"

    def __init__(self, url: str, events_table: sql.Composable) -> None:
        self.url = url
        self.events_table = events_table
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {BASELINE_TABLE} ("
                " originator_id uuid NOT NULL, originator_version bigint NOT NULL,"
                " topic text, state bytea, notification_id bigserial,"
                " PRIMARY KEY (originator_id, originator_version))"
            )
            conn.execute(
                f"CREATE UNIQUE INDEX IF NOT EXISTS {BASELINE_TABLE}_nid"
                f" ON {BASELINE_TABLE} (notification_id)"
            )
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {BASELINE_VIEW} ("
                " notification_id bigint PRIMARY KEY, originator_id text NOT NULL,"
                " originator_version bigint NOT NULL, topic text NOT NULL, fields int NOT NULL)"
            )
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {BASELINE_TRACKING} ("
                " name text PRIMARY KEY, position bigint NOT NULL)"
            )
            conn.execute(
                f"INSERT INTO {BASELINE_TRACKING} VALUES ('bench', 0) ON CONFLICT DO NOTHING"
            )

    def writer(self) -> PgWriter:
        return PgWriter(self.url)

    def reset_view(self, position: int) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn, conn.transaction():
            conn.execute(f"TRUNCATE {BASELINE_VIEW}")
            conn.execute(f"UPDATE {BASELINE_TRACKING} SET position = %s", (position,))

    def fold(self, start: int, stop: int) -> int:
        """Read log rows (start, stop] in batches; per batch, one transaction writes a row per
        event (executemany, pipelined by psycopg) and advances the tracking position."""
        select = sql.SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state"
            " FROM {} WHERE notification_id > %s AND notification_id <= %s"
            " ORDER BY notification_id LIMIT %s"
        ).format(self.events_table)
        folded = 0
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.cursor()
            position = start
            while position < stop:
                rows = cur.execute(select, (position, stop, FOLD_BATCH)).fetchall()
                new_position = stop if len(rows) < FOLD_BATCH else rows[-1][0]
                params = [(r[0], str(r[1]), r[2], r[3], len(json.loads(r[4]))) for r in rows]
                with conn.transaction():
                    cur.executemany(
                        f"INSERT INTO {BASELINE_VIEW} VALUES (%s, %s, %s, %s, %s)", params
                    )
                    cur.execute(
                        f"UPDATE {BASELINE_TRACKING} SET position = %s"
                        " WHERE name = 'bench' AND position = %s",
                        (new_position, position),
                    )
                folded += len(rows)
                position = new_position
        return folded

    @contextlib.contextmanager
    def commit_watcher(self) -> Iterator[Callable[[], float]]:
        """A LISTEN connection on its own thread; yields `next_notification()` → the
        perf_counter() at which the next NOTIFY of the baseline channel arrived."""
        arrivals: queue.SimpleQueue[float] = queue.SimpleQueue()
        stop = threading.Event()
        conn = psycopg.connect(self.url, autocommit=True)
        conn.execute(f"LISTEN {BASELINE_TABLE}")

        def listen() -> None:
            while not stop.is_set():
                for _ in conn.notifies(timeout=0.2):
                    arrivals.put(time.perf_counter())

        thread = threading.Thread(target=listen, name="bench-listen", daemon=True)
        thread.start()

        def next_notification() -> float:
            return arrivals.get(timeout=5)

        try:
            yield next_notification
        finally:
            stop.set()
            thread.join(timeout=5)
            conn.close()
