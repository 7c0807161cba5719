"""Read-model connections read SQLite through a memory map of the file: each sees what other
connections commit, in the WAL or checkpointed into a file that grew meanwhile."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from infra.sql.database import MMAP_SIZE, SqliteDatabase


def test_reads_go_through_the_map_and_see_every_commit(tmp_path: Path) -> None:
    path = tmp_path / "views.sqlite"
    db = SqliteDatabase(path)
    with db.transaction() as cur:
        cur.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
        cur.execute("INSERT INTO t VALUES (0, zeroblob(100))")
    assert db.query_one("PRAGMA mmap_size") == {"mmap_size": MMAP_SIZE}
    assert db.query_one("SELECT count(*) AS n FROM t") == {"n": 1}
    small = path.stat().st_size

    other = sqlite3.connect(path, isolation_level=None)  # another process's writes
    try:
        other.execute("BEGIN")
        for k in range(1, 2001):  # ~8 MB: the file outgrows what the reader mapped
            other.execute("INSERT INTO t VALUES (?, randomblob(4000))", (k,))
        other.execute("COMMIT")
        assert db.query_one("SELECT count(*) AS n FROM t") == {"n": 2001}  # read from the WAL
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert path.stat().st_size > 10 * small
        row = db.query_one("SELECT count(*) AS n, sum(length(v)) AS size FROM t")
        assert row == {"n": 2001, "size": 100 + 2000 * 4000}  # now from the grown file
        other.execute("UPDATE t SET v = zeroblob(7) WHERE k = 1500")
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert db.query_one("SELECT length(v) AS n FROM t WHERE k = 1500") == {"n": 7}
    finally:
        other.close()
        db.close()
