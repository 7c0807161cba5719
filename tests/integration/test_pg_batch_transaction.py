"""A projector's live step on PostgreSQL sends its statements together (`transaction(batch=
True)`): `BEGIN`, the statements and `COMMIT` in one simple query when nothing reads in
between; a read sends what is held first and sees it; any failure leaves nothing. Large steps
(catch-up, rebuild) keep psycopg's pipeline mode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from infra.bootstrap import bootstrap
from infra.projections import runner as runner_module
from infra.sql.database import PostgresDatabase
from tests import services
from tests.conftest import FAST_HASHER, create_user, make_settings


@pytest.fixture
def db() -> Iterator[PostgresDatabase]:
    url = services.create_database()
    database = PostgresDatabase(url, pool_size=2)
    with database.transaction() as cur:
        cur.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    try:
        yield database
    finally:
        database.close()
        services.drop_database(url)


def recorded(monkeypatch: pytest.MonkeyPatch, cursor: type, method: str) -> list[str]:
    """The statements passed to `cursor.method` from now on (the method still runs)."""
    statements: list[str] = []
    original = getattr(cursor, method)

    def counting(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
        statements.append(str(statement))
        return original(self, statement, *args, **kwargs)

    monkeypatch.setattr(cursor, method, counting)
    return statements


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The queries client-side cursors send, one entry per round trip."""
    return recorded(monkeypatch, psycopg.ClientCursor, "execute")


def rows(db: PostgresDatabase) -> list[tuple[int, str]]:
    return [(r["id"], r["v"]) for r in db.query("SELECT id, v FROM t ORDER BY id")]


def test_writes_go_out_with_begin_and_commit_in_one_round_trip(
    db: PostgresDatabase, sent: list[str]
) -> None:
    with db.transaction(batch=True) as cur:
        cur.execute("INSERT INTO t (id, v) VALUES (?, ?)", (1, "it's"))
        cur.executemany("INSERT INTO t (id, v) VALUES (?, ?)", [(2, "b"), (3, "100%")])
        cur.execute("UPDATE t SET v = v || ? WHERE id = ?", ("!", 2))
        assert sent == []  # held until the block ends
    assert len(sent) == 1, sent
    assert sent[0].startswith("BEGIN; INSERT INTO t") and sent[0].endswith("; COMMIT")
    assert rows(db) == [(1, "it's"), (2, "b!"), (3, "100%")]


def test_a_read_sends_what_is_held_and_sees_it(db: PostgresDatabase, sent: list[str]) -> None:
    with db.transaction(batch=True) as cur:
        cur.execute("INSERT INTO t (id, v) VALUES (?, ?)", (1, "a"))
        cur.execute("UPDATE t SET v = ? WHERE id = ? RETURNING id", ("z", 1))
        assert cur.fetchone() == {"id": 1}
        assert cur.execute("UPDATE t SET v = ? WHERE id = ?", ("y", 9)).rowcount == 0
        cur.execute("INSERT INTO t (id, v) VALUES (?, ?)", (2, "b"))
    assert len(sent) == 3, sent  # BEGIN…RETURNING, the UPDATE's count, the rest with COMMIT
    assert rows(db) == [(1, "z"), (2, "b")]


def test_a_failure_anywhere_leaves_nothing_and_the_connection_usable(
    db: PostgresDatabase,
) -> None:
    with db.transaction() as cur:
        cur.execute("INSERT INTO t (id, v) VALUES (?, ?)", (1, "kept"))
    # A statement the server refuses, discovered when the batch is sent at the end.
    with pytest.raises(psycopg.errors.UniqueViolation), db.transaction(batch=True) as cur:
        cur.execute("INSERT INTO t (id, v) VALUES (?, ?)", (2, "lost"))
        cur.execute("INSERT INTO t (id, v) VALUES (?, ?)", (1, "duplicate"))
    # An error of the caller's after a read sent part of the batch.
    with pytest.raises(RuntimeError, match="caller"), db.transaction(batch=True) as cur:
        cur.execute("INSERT INTO t (id, v) VALUES (?, ?)", (3, "lost"))
        assert cur.execute("SELECT count(*) AS n FROM t").fetchone() == {"n": 2}
        raise RuntimeError("the caller's own error")
    assert rows(db) == [(1, "kept")]
    with db.connection() as conn:  # every pooled connection is back outside a transaction
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with db.transaction(batch=True) as cur:
        cur.execute("INSERT INTO t (id, v) VALUES (?, ?)", (4, "after"))
    assert rows(db) == [(1, "kept"), (4, "after")]


def test_live_steps_are_batched_and_a_long_catch_up_is_pipelined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, "postgres")
    container = bootstrap(settings, hasher=FAST_HASHER)
    modes: list[tuple[str, bool, bool]] = []
    transaction = container.db.transaction

    def noting(*, pipeline: bool = False, batch: bool = False) -> Any:
        modes.append(("", pipeline, batch))
        return transaction(pipeline=pipeline, batch=batch)

    monkeypatch.setattr(container.db, "transaction", noting)
    try:
        container.projections.catch_up()
        modes.clear()
        create_user(container)  # a few events: each step small
        container.projections.catch_up()
        assert modes and all(batch and not pipeline for _, pipeline, batch in modes), modes
        before = container.db.query("SELECT count(*) AS n FROM users")[0]["n"]
        for _ in range(runner_module.BATCH_STATEMENTS + 6):
            create_user(container, approve=False)
        modes.clear()
        container.projections.rebuild(["users"])  # the whole log again, in one large step
        assert any(pipeline and not batch for _, pipeline, batch in modes), modes
        users = container.db.query("SELECT count(*) AS n FROM users")[0]["n"]
        assert users == before + runner_module.BATCH_STATEMENTS + 6
    finally:
        container.close()
        services.drop_database(settings.database_url)


@pytest.mark.parametrize("mode", ["plain", "pipeline", "batch"])
def test_insert_many_writes_every_row_in_each_transaction_mode(
    db: PostgresDatabase, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`insert_many` copies (a plain transaction, from `COPY_FROM` rows), or falls back to
    statements (pipeline mode, where COPY is not allowed; a batch's held statements): the
    same rows either way, quotes, percent signs and NULL-looking text included, and a
    duplicate key fails the whole transaction as an INSERT would."""
    from infra.sql import database as database_module

    copies = recorded(monkeypatch, psycopg.Cursor, "copy")
    wanted = [(i, v) for i, v in enumerate(["it's", "100%", "\\N", "tab\there", "", "é\n"] * 5)]
    flags = {"plain": {}, "pipeline": {"pipeline": True}, "batch": {"batch": True}}[mode]
    with db.transaction(**flags) as cur:
        cur.insert_many("t", ("id", "v"), wanted[:3])  # below COPY_FROM: statements
        cur.insert_many("t", ("id", "v"), wanted[3:])
    assert rows(db) == wanted
    assert len(copies) == (1 if mode == "plain" else 0)
    assert len(wanted[3:]) >= database_module.COPY_FROM > 3
    with pytest.raises(psycopg.errors.UniqueViolation), db.transaction(**flags) as cur:
        cur.insert_many("t", ("id", "v"), [(100, "new"), *[(200 + i, "x") for i in range(9)]])
        cur.insert_many("t", ("id", "v"), [(i, "again") for i in range(10)])
    assert rows(db) == wanted  # nothing of the failed transaction stayed
