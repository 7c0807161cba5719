"""A diff between two commits reads the churn between them, not the repository's history:
the same 100-path diff costs about the same whether 200 or 20,000 older changes came
before it. Cost is counted in SQLite virtual-machine steps, which do not depend on the
machine's speed."""

from __future__ import annotations

from pathlib import Path

from infra.sql.database import SqliteDatabase
from projections.catalog import history
from projections.catalog.catalog import CatalogView

REPO = "r"


def catalog(path: Path, older: int) -> SqliteDatabase:
    """`older` single-path commits (seq 1..older), then one commit changing 100 paths."""
    db = SqliteDatabase(path)
    view = CatalogView.__new__(CatalogView)
    with db.transaction() as cur:
        for statement in view.create_statements("sqlite"):
            cur.execute(statement)
        cur.executemany(
            "INSERT INTO catalog_changes (repository_id, seq, path, op) VALUES (?, ?, ?, 'put')",
            [(REPO, seq, f"old/{seq:06d}") for seq in range(1, older + 1)],
        )
        cur.executemany(
            "INSERT INTO catalog_changes (repository_id, seq, path, op) VALUES (?, ?, ?, 'put')",
            [(REPO, older + 1, f"new/{i:03d}") for i in range(100)],
        )
    return db


def steps(db: SqliteDatabase, left: int, right: int) -> int:
    conn = db._connection()
    counted = [0]

    def count() -> int:
        counted[0] += 1
        return 0

    conn.set_progress_handler(count, 100)
    try:
        history.diff_commits(db, REPO, left, right, prefix="", after="", amount=1000)
    finally:
        conn.set_progress_handler(None, 0)
    return counted[0] * 100


def test_a_diff_costs_its_churn_not_the_history_before_it(tmp_path: Path) -> None:
    short, long = catalog(tmp_path / "short.sqlite", 200), catalog(tmp_path / "long.sqlite", 20_000)
    try:
        cheap, costly = steps(short, 200, 201), steps(long, 20_000, 20_001)
        # Walking the path index in path order visited all 20,100 changes: ~30x the steps.
        assert costly < 1.5 * cheap, (cheap, costly)
    finally:
        short.close()
        long.close()
