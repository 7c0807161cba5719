"""The sandbox log store on SQLite and PostgreSQL: durable ordered chunks, followers woken by
appends (locally, through Redis across stores, by polling without it), retention and purge."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from domain.shared.errors import Gone
from infra.connections import open_connections
from infra.sandboxes.logs import CHUNKS_TABLE, SqlLogStore
from infra.settings import Settings
from infra.sql.database import Database
from tests import services


@pytest.fixture
def db(backend: Settings) -> Iterator[Database]:
    connections = open_connections(backend)
    yield connections.db
    connections.close()


def sid() -> str:
    return str(uuid.uuid4())


def test_chunks_read_back_in_order_and_survive_a_new_store(db: Database) -> None:
    store = SqlLogStore(db, retention_seconds=60)
    s = sid()
    store.append(s, 2, b"world\n")
    store.append(s, 1, b"hello ")
    store.append(s, 1, b"ignored: the same seq again")
    chunks, closed = store.read(s, 0)
    assert chunks == [(1, b"hello "), (2, b"world\n")] and not closed
    assert store.read(s, 1) == ([(2, b"world\n")], False)
    store.close(s)
    # Another process (a second store on the same database) reads the same log, closed.
    other = SqlLogStore(db, retention_seconds=60)
    assert other.read(s, 0) == ([(1, b"hello "), (2, b"world\n")], True)
    assert other.state(s) == "closed"
    assert other.read(sid(), 0) == ([], False)


def test_binary_bytes_are_kept_exactly(db: Database) -> None:
    store = SqlLogStore(db, retention_seconds=60)
    s = sid()
    data = bytes(range(256)) * 40
    store.append(s, 1, data)
    assert store.read(s, 0)[0] == [(1, data)]


def test_a_long_log_is_read_in_pages_and_closed_only_at_its_end(db: Database) -> None:
    store = SqlLogStore(db, retention_seconds=60)
    s = sid()
    for seq in range(1, 601):
        store.append(s, seq, b"x" * 10)
    store.close(s)
    after, pages, total = 0, 0, 0
    while True:
        chunks, closed = store.read(s, after)
        pages += 1
        total += sum(len(d) for _, d in chunks)
        if chunks:
            after = chunks[-1][0]
        if closed:
            break
    assert total == 6000 and pages >= 3 and after == 600
    assert store.extent(s) == (600, 6000) and store.extent(sid()) == (0, 0)


def test_expired_logs_answer_gone_and_purge_deletes_their_chunks(db: Database) -> None:
    now = [1000.0]
    store = SqlLogStore(db, retention_seconds=30, clock=lambda: now[0])
    s, live = sid(), sid()
    store.append(s, 1, b"old output")
    store.append(live, 1, b"still running")
    store.close(s)
    now[0] += 29
    assert store.read(s, 0) == ([(1, b"old output")], True)
    now[0] += 2
    with pytest.raises(Gone, match="logs no longer available"):
        store.read(s, 0)
    assert store.purge_expired() == 1
    assert store.purge_expired() == 0
    rows = db.query(f"SELECT seq FROM {CHUNKS_TABLE} WHERE sandbox_id = ?", (s,))
    assert rows == []
    with pytest.raises(Gone):
        store.read(s, 0)
    # A running sandbox's log never expires, however old.
    assert store.read(live, 0) == ([(1, b"still running")], False)


def test_a_local_append_wakes_a_waiting_thread_at_once(db: Database) -> None:
    store = SqlLogStore(db, retention_seconds=60, poll_interval=30)
    s = sid()
    token = store.token(s)
    threading.Timer(0.2, store.append, (s, 1, b"x")).start()
    started = time.monotonic()
    assert store.wait(s, token)
    assert time.monotonic() - started < 5
    # Nothing new since the fresh token: the wait times out.
    assert not store.wait(s, store.token(s), timeout=0.05)


def test_a_local_append_wakes_an_async_follower(db: Database) -> None:
    store = SqlLogStore(db, retention_seconds=60, poll_interval=30)
    s = sid()

    async def follow() -> bool:
        token = store.token(s)
        threading.Timer(0.1, store.append, (s, 1, b"x")).start()
        return await store.wait_async(s, token, timeout=10)

    started = time.monotonic()
    assert asyncio.run(follow())
    assert time.monotonic() - started < 5


def test_redis_wakes_followers_of_another_store(db: Database) -> None:
    url = services.redis_url()
    writer = SqlLogStore(db, retention_seconds=60, redis_url=url)
    # A long poll: only the Redis message can wake this follower within the test's bound.
    reader = SqlLogStore(db, retention_seconds=60, redis_url=url, poll_interval=20)
    try:
        s = sid()
        reader.fanout.ensure_subscribed()  # type: ignore[union-attr]
        time.sleep(0.5)  # the subscription is live before the append
        token = reader.token(s)
        threading.Timer(0.2, writer.append, (s, 1, b"fan out")).start()
        started = time.monotonic()
        assert reader.wait(s, token)
        assert time.monotonic() - started < 5
        assert reader.read(s, 0) == ([(1, b"fan out")], False)
    finally:
        writer.shutdown()
        reader.shutdown()
