"""An append that expects other streams' versions (`insert_events(…, expect=…)`) on PostgreSQL
checks them under the table lock every append takes: an append to an expected stream that
commits while this one waits for the lock is seen, and this one then writes nothing."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from infra.bootstrap import Container, bootstrap
from infra.eventstore.postgres import TildePostgresApplicationRecorder
from tests import services
from tests.conftest import FAST_HASHER, make_settings


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    settings = make_settings(tmp_path, "postgres")
    built = bootstrap(settings, hasher=FAST_HASHER)
    try:
        yield built
    finally:
        built.close()
        services.drop_database(settings.database_url)


def waiting_for_the_lock(url: str, seconds: float = 10.0) -> bool:
    """Whether some session waits for a lock on the catalog's event table (polled)."""
    deadline = time.monotonic() + seconds
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted"
                " AND relation = 'catalog_events'::regclass"
            ).fetchone()
            if waiting and waiting[0]:
                return True
            time.sleep(0.01)
    return False


def test_an_append_committed_while_waiting_for_the_lock_fails_the_expectation(
    container: Container,
) -> None:
    recorder = container.catalog.recorder
    assert isinstance(recorder, TildePostgresApplicationRecorder)
    url = container.settings.database_url
    expected, written = uuid.uuid4(), uuid.uuid4()
    recorder.insert_events([StoredEvent(expected, 1, "t:E", b"1")])
    outcome: list[BaseException | None] = []

    def append_expecting_version_1() -> None:
        try:
            recorder.insert_events(
                [StoredEvent(written, 1, "t:E", b"mine")], expect=[(expected, 1)]
            )
            outcome.append(None)
        except BaseException as e:
            outcome.append(e)

    with psycopg.connect(url) as holder:  # another process's append, mid-transaction
        holder.execute("LOCK TABLE catalog_events IN EXCLUSIVE MODE")
        appender = threading.Thread(target=append_expecting_version_1)
        appender.start()
        try:
            assert waiting_for_the_lock(url), "the append never reached the table lock"
            holder.execute(
                "INSERT INTO catalog_events (originator_id, originator_version, topic, state)"
                " VALUES (%s, 2, 't:E', 'x')",
                (expected,),
            )
            holder.commit()  # the expected stream moved on while the append waited
        finally:
            appender.join(30)
    assert len(outcome) == 1
    assert isinstance(outcome[0], IntegrityError), outcome[0]
    assert "moved past the version expected" in str(outcome[0])
    assert recorder.select_events(written) == []  # nothing of it was written
    assert [e.originator_version for e in recorder.select_events(expected)] == [1, 2]
    # Unmoved, the same append goes through.
    recorder.insert_events([StoredEvent(written, 1, "t:E", b"mine")], expect=[(expected, 2)])
    assert [e.state for e in recorder.select_events(written)] == [b"mine"]
