"""Two processes appending to one SQLite event store (two server processes on one data
directory): an append whose inline projection reads before it writes must wait for the other
writer, not fail with "database is locked". Each recorder here has its own datastore, as each
process has its own pool and locks."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteDatastore

from application.nonblocking import WouldBlock, without_waiting
from infra.eventstore.sqlite import TildeSQLiteApplicationRecorder
from infra.sql.database import SqliteDatabase


def recorder(path: Path) -> TildeSQLiteApplicationRecorder:
    store = SQLiteDatastore(str(path), lock_timeout=10)
    rec = TildeSQLiteApplicationRecorder(store)
    rec.create_table()
    return rec


def event(topic: str) -> StoredEvent:
    return StoredEvent(uuid.uuid4(), 1, topic, b"{}")


def test_an_append_that_reads_first_waits_for_the_other_process(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    first, second = recorder(path), recorder(path)
    first.insert_events([event("warm")])  # both see an existing table and a WAL database
    other: dict[str, Any] = {}

    def other_process() -> None:
        try:
            other["ids"] = second.insert_events([event("other")])
        except Exception as e:  # reported to the main thread
            other["error"] = e

    def inline(cursor: Any, stored: Any) -> None:
        # The catalog's inline view reads before it writes. Meanwhile the other process
        # appends; before the fix it committed here and this append then failed at once.
        cursor.execute("SELECT COUNT(*) FROM stored_events")
        thread = threading.Thread(target=other_process)
        thread.start()
        thread.join(0.5)  # it waits for this transaction's write lock
        other["waited"] = thread.is_alive()
        other["thread"] = thread

    ids = first.insert_events([event("mine")], inline=inline)
    other["thread"].join(10)
    assert "error" not in other, other.get("error")
    assert ids and other["ids"] and other["ids"][0] > ids[0]  # it went after this append
    assert other["waited"] is True
    topics = [n.topic for n in first.select_notifications(start=1, limit=10)]
    assert topics == ["warm", "mine", "other"]


def test_an_append_that_must_not_wait_stops_before_writing(tmp_path: Path) -> None:
    """`without_waiting` (the event loop's hot paths): another process holding the write lock,
    or another thread holding the pool's writer, makes the append raise `WouldBlock` at once,
    with nothing written and the connection's busy timeout as it was; a free lock appends."""
    path = tmp_path / "events.sqlite"
    mine = recorder(path)
    mine.insert_events([event("warm")])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing
    started = time.monotonic()
    with without_waiting(), pytest.raises(WouldBlock):
        mine.insert_events([event("refused")])
    assert time.monotonic() - started < 1  # not the 10 s busy timeout
    other.execute("ROLLBACK")
    with mine.datastore.get_connection(commit=False) as conn:
        cursor = conn.cursor().sqlite_cursor
        assert cursor.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000

    holder = mine.datastore.pool.get_connection(is_writer=True)  # another thread appending
    try:
        with without_waiting(), pytest.raises(WouldBlock):
            mine.insert_events([event("refused too")])
    finally:
        mine.datastore.pool.put_connection(holder)

    with without_waiting():
        mine.insert_events([event("free")])
    mine.insert_events([event("waiting is fine")])
    topics = [n.topic for n in mine.select_notifications(start=1, limit=10)]
    assert topics == ["warm", "free", "waiting is fine"]


def test_a_read_model_write_that_must_not_wait_stops_before_writing(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "views.sqlite", busy_timeout_ms=5_000)
    with db.transaction() as cur:
        cur.execute("CREATE TABLE t (v TEXT)")
    other = sqlite3.connect(tmp_path / "views.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with without_waiting(), pytest.raises(WouldBlock), db.transaction() as cur:
        cur.execute("INSERT INTO t VALUES ('refused')")
    other.execute("ROLLBACK")
    assert db.query_one("PRAGMA busy_timeout") == {"timeout": 5_000}
    with without_waiting(), db.transaction() as cur:
        cur.execute("INSERT INTO t VALUES ('free')")
    assert db.query("SELECT v FROM t") == [{"v": "free"}]
    db.close()
