"""The SQLite baseline: raw sqlite3 on files beside tilde's, the same table shapes, WAL."""

from __future__ import annotations

import contextlib
import json
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.identity.config import (
    BASELINE_TABLE,
    BASELINE_TRACKING,
    BASELINE_VIEW,
    FOLD_BATCH,
    PAYLOAD_TOPIC,
    api_key_payload,
)


class SqliteWriter:
    """One connection inserting like eventsourcing's SQLite recorder (WAL, default sync).
    Writers of the process take turns on a lock, as the recorder's do, instead of spinning
    in SQLite's busy handler."""

    def __init__(self, path: Path, lock: threading.Lock) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=10, check_same_thread=False)
        self.lock = lock

    def insert(self) -> int:
        payload = api_key_payload()
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                cur = self.conn.execute(
                    f"INSERT INTO {BASELINE_TABLE} VALUES (?, 1, ?, ?)",
                    (uuid.uuid4().hex, PAYLOAD_TOPIC, payload),
                )
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        return int(cur.lastrowid or 0)

    def close(self) -> None:
        self.conn.close()


class SqliteBaseline:
    label = "raw sqlite3"

    def __init__(self, directory: Path, events_file: Path, events_table: str) -> None:
        self.events_path = directory / "bench-events.sqlite"
        self.view_path = directory / "bench-view.sqlite"
        self.log_path = events_file
        self.log_table = events_table
        self.write_lock = threading.Lock()
        with contextlib.closing(sqlite3.connect(self.events_path, isolation_level=None)) as c:
            c.execute("PRAGMA journal_mode=WAL")
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {BASELINE_TABLE} (originator_id TEXT,"
                " originator_version INTEGER, topic TEXT, state BLOB,"
                " PRIMARY KEY (originator_id, originator_version))"
            )
        with contextlib.closing(self._view()) as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {BASELINE_VIEW} (notification_id INTEGER PRIMARY"
                " KEY, originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL,"
                " topic TEXT NOT NULL, fields INTEGER NOT NULL)"
            )
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {BASELINE_TRACKING} ("
                " name TEXT PRIMARY KEY, position INTEGER NOT NULL)"
            )
            c.execute(f"INSERT OR IGNORE INTO {BASELINE_TRACKING} VALUES ('bench', 0)")

    def _view(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.view_path, isolation_level=None, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # as infra.sql.database.SqliteDatabase
        return conn

    def writer(self) -> SqliteWriter:
        return SqliteWriter(self.events_path, self.write_lock)

    def reset_view(self, position: int) -> None:
        with contextlib.closing(self._view()) as c:
            c.execute("BEGIN IMMEDIATE")
            c.execute(f"DELETE FROM {BASELINE_VIEW}")
            c.execute(f"UPDATE {BASELINE_TRACKING} SET position = ?", (position,))
            c.execute("COMMIT")

    def fold(self, start: int, stop: int) -> int:
        select = (
            "SELECT rowid, originator_id, originator_version, topic, state"
            f" FROM {self.log_table} WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?"
        )
        folded = 0
        with (
            contextlib.closing(sqlite3.connect(self.log_path, timeout=10)) as log,
            contextlib.closing(self._view()) as view,
        ):
            position = start
            while position < stop:
                rows = log.execute(select, (position, stop, FOLD_BATCH)).fetchall()
                new_position = stop if len(rows) < FOLD_BATCH else rows[-1][0]
                params = [(r[0], r[1], r[2], r[3], len(json.loads(r[4]))) for r in rows]
                view.execute("BEGIN IMMEDIATE")
                view.executemany(f"INSERT INTO {BASELINE_VIEW} VALUES (?, ?, ?, ?, ?)", params)
                view.execute(
                    f"UPDATE {BASELINE_TRACKING} SET position = ?"
                    " WHERE name = 'bench' AND position = ?",
                    (new_position, position),
                )
                view.execute("COMMIT")
                folded += len(rows)
                position = new_position
        return folded

    @contextlib.contextmanager
    def commit_watcher(self) -> Iterator[Callable[[], float]]:
        """SQLite has no LISTEN: another connection polls the log head every 1 ms (what the
        architecture prescribes for SQLite followers)."""
        arrivals: queue.SimpleQueue[float] = queue.SimpleQueue()
        stop = threading.Event()

        def poll() -> None:
            with contextlib.closing(sqlite3.connect(self.events_path, timeout=10)) as conn:
                head = conn.execute(f"SELECT MAX(rowid) FROM {BASELINE_TABLE}").fetchone()[0]
                while not stop.is_set():
                    now = conn.execute(f"SELECT MAX(rowid) FROM {BASELINE_TABLE}").fetchone()[0]
                    if now != head:
                        arrivals.put(time.perf_counter())
                        head = now
                    time.sleep(0.001)

        thread = threading.Thread(target=poll, name="bench-poll", daemon=True)
        thread.start()
        try:
            yield lambda: arrivals.get(timeout=5)
        finally:
            stop.set()
            thread.join(timeout=5)
