"""Synchronous database calls on the event loop (`infra/sql/bridge.py`), on real PostgreSQL.

A call inside `run_on_loop` runs on the loop's thread; whenever psycopg waits for the server,
the loop serves others. These tests pin what that must never cost: the loop is never
blocked (a ticker keeps ticking while calls wait on the server, on the pool, on a group
commit), calls interleave instead of queueing, a call waiting for a pooled connection gets one
when a thread returns it (or the pool's 503 after its timeout), group commits batch calls on
the loop with threads, an append is one round trip whose inline projection may read its own
writes, and a write whose request is cancelled still finishes.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from application.catalog.group_commit import GroupCommit
from application.nonblocking import pause
from domain.shared.errors import Unavailable
from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from infra.sql.bridge import on_loop, run_on_loop
from infra.sql.database import PostgresDatabase
from tests import services
from tests.conftest import FAST_HASHER, make_settings


@pytest.fixture
def database() -> Iterator[str]:
    url = services.create_database()
    yield url
    services.drop_database(url)


@pytest.fixture
def pg_container(tmp_path: Any) -> Iterator[Container]:
    settings: Settings = make_settings(tmp_path, "postgres")
    container = bootstrap(settings, hasher=FAST_HASHER)
    yield container
    container.close()
    services.drop_database(settings.database_url)


class Ticker:
    """Counts the loop's turns every 5 ms: a blocked loop stops it."""

    def __init__(self) -> None:
        self.ticks = 0
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.005)
            now = time.monotonic()
            self.longest = max(self.longest, now - last)
            last = now
            self.ticks += 1

    def __enter__(self) -> Ticker:
        self._task = asyncio.ensure_future(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def test_calls_on_the_loop_interleave_and_never_block_it(database: str) -> None:
    db = PostgresDatabase(database, pool_size=6, timeout=5)
    threads: set[int] = set()

    def call(seconds: float) -> int:
        assert on_loop()
        threads.add(threading.get_ident())
        row = db.query_one("SELECT 7 AS n FROM pg_sleep(?)", (seconds,))
        assert row is not None
        return int(row["n"])

    async def scenario() -> tuple[list[int], float, Ticker]:
        await run_on_loop(lambda: call(0))  # the pool's first connection
        with Ticker() as ticker:
            started = time.monotonic()
            answers = await asyncio.gather(*(run_on_loop(lambda: call(0.3)) for _ in range(4)))
            took = time.monotonic() - started
        return list(answers), took, ticker

    try:
        answers, took, ticker = asyncio.run(scenario())
    finally:
        db.close()
    assert answers == [7, 7, 7, 7]
    assert took < 1.0, f"4 calls of 0.3 s took {took:.2f} s: they queued instead of interleaving"
    # A call blocking the loop would stop the ticker for its 0.3 s.
    assert ticker.ticks >= 20 and ticker.longest < 0.25, (ticker.ticks, ticker.longest)
    assert threads == {threading.main_thread().ident}  # asyncio.run's loop: this thread


def test_a_call_awaits_a_pooled_connection_on_the_loop_and_gets_the_pools_503_at_its_timeout(
    database: str,
) -> None:
    db = PostgresDatabase(database, pool_size=2, timeout=2.0)
    held = [db.pool.getconn(), db.pool.getconn()]  # every connection is out, in "threads"

    def give_back_later() -> None:
        time.sleep(0.3)
        db.pool.putconn(held.pop())

    async def scenario() -> tuple[Any, float, Ticker]:
        with Ticker() as ticker:
            threading.Thread(target=give_back_later).start()
            started = time.monotonic()
            row = await run_on_loop(lambda: db.query_one("SELECT 1 AS one"))
            waited = time.monotonic() - started
        return row, waited, ticker

    async def starved() -> None:
        await run_on_loop(lambda: db.query_one("SELECT 1 AS one"))

    try:
        row, waited, ticker = asyncio.run(scenario())
        assert row == {"one": 1}
        assert 0.25 <= waited < 1.8, waited
        assert ticker.longest < 0.25, ticker.longest  # the loop served others meanwhile
        held.append(db.pool.getconn())  # all out again, and nobody gives one back
        started = time.monotonic()
        with pytest.raises(Unavailable):
            asyncio.run(starved())
        assert 1.9 <= time.monotonic() - started < 5
    finally:
        for conn in held:
            db.pool.putconn(conn)
        db.close()


def test_a_group_commit_batches_calls_on_the_loop_with_threads() -> None:
    """Savers on the loop wait for their batch by suspending, threads by blocking; either may
    lead; every save gets its batch's outcome and nobody is stranded."""
    calls: list[tuple[str, ...]] = []

    def record(*aggregates: str) -> tuple[str, ...]:
        calls.append(aggregates)
        pause(0.05)  # the append's round trip: suspends on the loop, sleeps on a thread
        return aggregates

    group: GroupCommit[tuple[str, ...]] = GroupCommit(record)

    async def scenario() -> tuple[list[tuple[str, ...]], list[tuple[str, ...]], Ticker]:
        loop = asyncio.get_running_loop()
        with Ticker() as ticker:
            on_threads = [loop.run_in_executor(None, group.save, [f"t{i}"]) for i in range(3)]
            on_loop_ = [run_on_loop(lambda i=i: group.save([f"l{i}"])) for i in range(5)]
            answers = await asyncio.wait_for(asyncio.gather(*on_loop_), 10)
            thread_answers = await asyncio.wait_for(asyncio.gather(*on_threads), 10)
        return list(answers), list(thread_answers), ticker

    loop_answers, thread_answers, ticker = asyncio.run(scenario())
    saved = sorted(a for batch in calls for a in batch)
    assert saved == sorted([f"t{i}" for i in range(3)] + [f"l{i}" for i in range(5)])
    assert len(calls) < 8, calls  # some went out together
    for i, answer in enumerate(loop_answers):
        assert f"l{i}" in answer and answer in calls
    for i, answer in enumerate(thread_answers):
        assert f"t{i}" in answer and answer in calls
    assert ticker.longest < 0.25, ticker.longest
    assert not group._writing and not group._queue


def _event(originator: uuid.UUID, version: int) -> StoredEvent:
    return StoredEvent(
        originator_id=originator,
        originator_version=version,
        topic="tests:Thing.Happened",
        state=b'{"quote": "it\'s", "bytes": "\\u0000"}' + bytes(range(256)),
    )


def test_an_append_is_one_simple_query_whose_inline_projection_reads_its_own_writes(
    pg_container: Container,
) -> None:
    recorder = pg_container.catalog.recorder
    with pg_container.catalog_db.transaction() as cur:
        cur.execute("CREATE TABLE bridge_inline (id TEXT PRIMARY KEY, seen BIGINT NOT NULL)")
    seen: list[Any] = []

    def inline(cursor: Any, events: list[StoredEvent]) -> None:
        for e in events:
            cursor.execute(
                "INSERT INTO bridge_inline (id, seen) VALUES (?, ?)",
                (f"{e.originator_id}:{e.originator_version}", len(e.state)),
            )
        row = cursor.execute("SELECT count(*) AS n FROM bridge_inline").fetchone()
        seen.append(row["n"])  # its own insert, not yet committed, is visible to it
        cursor.executemany(
            "UPDATE bridge_inline SET seen = seen + ? WHERE id = ?",
            [(1, f"{e.originator_id}:{e.originator_version}") for e in events],
        )

    thing = uuid.uuid4()
    before = recorder.max_notification_id() or 0
    ids = recorder.insert_events([_event(thing, 1), _event(thing, 2)], inline=inline)
    assert ids == [before + 1, before + 2]
    assert seen == [2]
    stored = recorder.select_events(thing)
    assert [e.state for e in stored] == [_event(thing, 1).state, _event(thing, 2).state]
    rows = pg_container.catalog_db.query("SELECT id, seen FROM bridge_inline ORDER BY id")
    assert [r["seen"] for r in rows] == [len(_event(thing, 1).state) + 1] * 2

    # A lost version race: nothing of the append stays, the inline rows included.
    with pytest.raises(IntegrityError):
        recorder.insert_events([_event(thing, 3), _event(thing, 2)], inline=inline)
    assert [e.originator_version for e in recorder.select_events(thing)] == [1, 2]
    assert len(pg_container.catalog_db.query("SELECT id FROM bridge_inline")) == 2
    # The connection went back clean: the next append works (without an inline reader).
    assert recorder.insert_events([_event(thing, 3)]) == [before + 3]


def test_a_write_on_the_loop_finishes_when_its_request_is_cancelled(
    pg_container: Container,
) -> None:
    """A finalize on the loop may be leading a group commit others wait on; cancelling its
    request must not stop it halfway (a thread would not be stopped either)."""
    from interfaces.http.app import create_app
    from interfaces.http.hot_paths import Answer, HotPaths

    app = create_app(pg_container, run_background=False)
    hot = app.inner  # type: ignore[attr-defined]
    assert isinstance(hot, HotPaths) and hot.bridged

    def finishes_when_cancelled(writes: bool) -> bool:
        """Whether a 0.2 s call on the loop still finished after its request was cancelled
        0.05 s into it."""
        finished = threading.Event()

        def work() -> Answer:
            pause(0.2)  # mid-call (say, mid-append) when the request is cancelled
            finished.set()
            return Answer(201, [])

        async def scenario() -> None:
            request = asyncio.ensure_future(hot.calls._bridged(work, writes))
            await asyncio.sleep(0.05)
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request
            await asyncio.sleep(0.4)

        asyncio.run(scenario())
        return finished.is_set()

    assert finishes_when_cancelled(writes=True)
    assert not finishes_when_cancelled(writes=False)  # a read is simply abandoned


def test_the_bridge_is_only_entered_inside_run_on_loop(database: str) -> None:
    db = PostgresDatabase(database, pool_size=2, timeout=1.0)
    try:
        assert not on_loop()
        assert db.query_one("SELECT 2 AS two") == {"two": 2}  # a thread's plain wait

        def nested() -> Callable[[], bool]:
            return on_loop

        assert asyncio.run(run_on_loop(lambda: nested()()))
    finally:
        db.close()


def test_peek_many_fast_forwards_cached_aggregates_in_one_query_as_peek_would(
    pg_container: Container,
) -> None:
    """`TildeApplication.peek_many`: what `peek` answers for each, the cached ones brought up
    to date by one `select_events_after`; one being fast-forwarded by another thread right
    now is answered as cached (the library's `fastforward_skipping`); an unknown id is None."""
    from domain.catalog.repository import Repository
    from domain.catalog.session import Session
    from domain.shared.values import Actor

    catalog = pg_container.catalog
    actor = Actor("user", "u1")
    repo = Repository.create(
        repository_id=uuid.uuid4(), organization_id="org1", name="r1", settings={}, actor=actor
    )
    session = Session.open(
        session_id=uuid.uuid4(), organization_id="org1", repository_id=str(repo.id),
        base_seq=0, actor=actor, purpose="test",
    )  # fmt: skip
    catalog.record(repo, session)
    assert catalog.peek(repo.id, Repository) is not None  # both cached now
    assert catalog.peek(session.id, Session) is not None
    # Another process appends to the session (the cached instance here is now behind).
    other = bootstrap(pg_container.settings, hasher=FAST_HASHER)
    try:
        theirs = other.catalog.find(session.id, Session)
        assert theirs is not None
        theirs.use_shard(3, actor)
        other.catalog.record(theirs)
    finally:
        other.close()
    queries: list[Any] = []
    recorder = catalog.recorder
    real_after, real_select = recorder.select_events_after, recorder.select_events
    recorder.select_events_after = lambda after: queries.append(after) or real_after(after)  # type: ignore[method-assign]
    recorder.select_events = lambda *a, **k: queries.append(a) or real_select(*a, **k)  # type: ignore[method-assign]
    try:
        got_repo, got_session, nothing = catalog.peek_many(
            [(repo.id, Repository), (session.id, Session), (uuid.uuid4(), Session)]
        )
        assert len(queries) == 2  # the two cached ones in one query; the unknown id alone
        assert got_repo is not None and got_repo.id == repo.id
        assert got_session is not None and got_session.version == theirs.version  # caught up
        assert nothing is None
        assert catalog.peek_many([(repo.id, Session)]) == [None]  # the wrong kind

        # Held by another thread's fast-forward: answered as cached, no read of it.
        queries.clear()
        lock = catalog.repository._use_fastforward_lock(session.id)
        assert lock.acquire()
        try:
            answered = catalog.peek_many([(session.id, Session)])
        finally:
            lock.release()
            catalog.repository._disuse_fastforward_lock(session.id)
        assert answered[0] is got_session and queries == []
    finally:
        recorder.select_events_after = real_after  # type: ignore[method-assign]
        recorder.select_events = real_select  # type: ignore[method-assign]
