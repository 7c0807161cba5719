"""Two processes appending to one SQLite event store (two server processes on one data
directory): an append whose inline projection reads before it writes must wait for the other
writer, not fail with "database is locked". Each recorder here has its own datastore, as each
process has its own pool and locks."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteDatastore

from infra.eventstore.sqlite import TildeSQLiteApplicationRecorder


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
