"""Emptying a view's tables for a rebuild."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# A rebuild empties a table this small with DELETE rather than DROP and CREATE (cheaper).
SMALL_TABLE_ROWS = 10_000


def drop_or_empty(cur: Any, dialect: str, tables: Iterable[str], *, empty_small: bool) -> None:
    """Drop each table, or with `empty_small` (a rebuild of a view at its current version,
    hence with its current schema) delete the rows of one holding at most `SMALL_TABLE_ROWS`:
    the same empty table for a fraction of the cost (PostgreSQL's `CREATE TABLE` with its
    indexes takes milliseconds, and most of a log's views are small). The caller then runs
    the view's create statements (`IF NOT EXISTS`) either way, so an index dropped by hand
    comes back.

    On PostgreSQL the table is locked as `DROP` locks it (`ACCESS EXCLUSIVE`) before it is
    counted and emptied: a projector of another process folding into it meanwhile finishes
    first and its rows go too, and none is written until this transaction ends. (A `DELETE`
    alone would not see rows inserted by a transaction still open when it started, and they
    would outlive the reset.) SQLite has one writer at a time."""
    for table in tables:
        if empty_small and _small(cur, dialect, table):
            cur.execute(f"DELETE FROM {table}")
        else:
            cur.execute(f"DROP TABLE IF EXISTS {table}")


def _small(cur: Any, dialect: str, table: str) -> bool:
    """Whether `table` exists and holds at most `SMALL_TABLE_ROWS` rows (on PostgreSQL,
    once locked: see `drop_or_empty`)."""
    if dialect == "postgresql":
        cur.execute("SELECT to_regclass(?) IS NOT NULL AS found", (table,))
    else:
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)"
            " AS found",
            (table,),
        )
    row = cur.fetchone()
    if not row or not row["found"]:
        return False
    if dialect == "postgresql":
        cur.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    cur.execute(f"SELECT count(*) AS n FROM (SELECT 1 FROM {table} LIMIT {SMALL_TABLE_ROWS + 1}) s")
    row = cur.fetchone()
    return row is not None and int(row["n"]) <= SMALL_TABLE_ROWS
