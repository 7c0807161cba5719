"""The raw-SQL baseline: tables shaped like the catalog's, written and read with the raw driver
(psycopg or sqlite3) on the same database."""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg

from bench.catalog.config import BASE_TABLES, ENTRY, ETAG, INF, OCTETS, PAGE
from bench.catalog.layer import Repo
from bench.common import Stopwatch


class Raw:
    """One raw connection (psycopg or sqlite3) speaking `?` placeholders; tuple rows."""

    def __init__(self, backend: str, target: str) -> None:
        self.pg = backend == "postgres"
        if self.pg:
            self.conn: Any = psycopg.connect(target, autocommit=True)
        else:
            self.conn = sqlite3.connect(
                target, isolation_level=None, timeout=30, check_same_thread=False
            )
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")  # as infra.sql.database

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.pg else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self._sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if self.pg:
            self.conn.cursor().executemany(self._sql(sql), rows)
        else:
            self.conn.executemany(sql, rows)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.execute(sql, params).fetchall())

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self.pg:
            with self.conn.transaction():
                yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def analyze(self, tables: Sequence[str]) -> None:
        """Fresh statistics and no dead rows, as autovacuum leaves them in a steady state
        (PostgreSQL: VACUUM ANALYZE; SQLite: ANALYZE)."""
        for table in tables:
            self.execute(f"{'VACUUM ANALYZE' if self.pg else 'ANALYZE'} {table}")

    def close(self) -> None:
        self.conn.close()


class Baseline:
    """Tables shaped like the catalog's (same columns, keys and indexes), holding a copy of
    its rows, written and read with the raw driver."""

    def __init__(self, backend: str, target: str, dialect: str) -> None:
        from projections.catalog.catalog import CatalogView

        self.raw = Raw(backend, target)
        self.statements = [
            s.replace("catalog_", "bench_")
            for s in CatalogView().create_statements(dialect)
            if any(f" {t} " in s or f" {t}(" in s for t in BASE_TABLES)
        ]

    def copy_catalog(self) -> float:
        with Stopwatch() as sw:
            with self.raw.transaction():
                for table in BASE_TABLES:
                    self.raw.execute(f"DROP TABLE IF EXISTS {table.replace('catalog_', 'bench_')}")
                for statement in self.statements:
                    self.raw.execute(statement)
                for table in BASE_TABLES:
                    bench = table.replace("catalog_", "bench_")
                    self.raw.execute(f"INSERT INTO {bench} SELECT * FROM {table}")
            self.raw.analyze([t.replace("catalog_", "bench_") for t in BASE_TABLES])
        return sw.seconds

    def head_seq(self, repo_id: str) -> int:
        row = self.raw.all("SELECT MAX(seq) FROM bench_commits WHERE repository_id = ?", (repo_id,))
        return int(row[0][0] or 0)

    def _commit_row(self, repo_id: str, seq: int, changes: int) -> tuple[Any, ...]:
        return (
            repo_id,
            seq,
            uuid.uuid4().hex,
            "[]",
            "bench",
            "{}",
            "bench",
            "user",
            "bench",
            "2026-01-01T00:00:00Z",
            str(uuid.uuid4()),
            "session",
            changes,
        )

    def commit_small(self, repo: Repo, paths: Sequence[str], version: str) -> None:
        """Close k head rows, insert k rows and k change rows and one commit row (one
        transaction): the SQL a commit of k changes needs."""
        repo.base_seq += 1
        seq = repo.base_seq
        marks = ",".join("?" * len(paths))
        rows = [
            (repo.id, p, seq, INF, f"bench/{version}/{p}", 1024, ETAG, OCTETS, "{}", "now", None)
            for p in paths
        ]
        with self.raw.transaction():
            self.raw.execute(
                "UPDATE bench_entries SET valid_to = ? WHERE repository_id = ? AND valid_to = ?"
                f" AND path IN ({marks})",
                (seq, repo.id, INF, *paths),
            )
            self.raw.executemany(
                "INSERT INTO bench_entries (repository_id, path, valid_from, valid_to, address,"
                " size, etag, content_type, metadata, last_modified, source_metadata)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            self.raw.executemany(
                "INSERT INTO bench_changes (repository_id, seq, path, op) VALUES (?,?,?,?)",
                [(repo.id, seq, p, "put") for p in paths],
            )
            self.raw.execute(
                "INSERT INTO bench_commits VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                self._commit_row(repo.id, seq, len(paths)),
            )

    def stage_large(self, repo: Repo, paths: Sequence[str], session: str) -> None:
        rows = [
            (session, p, repo.id, "put", f"bench/L/{p}", 1024, ETAG, OCTETS, "{}", "now", None)
            for p in paths
        ]
        with self.raw.transaction():
            self.raw.executemany(
                "INSERT INTO bench_staged (session_id, path, repository_id, op, address, size,"
                " etag, content_type, metadata, last_modified, source_metadata)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )

    def commit_large(self, repo: Repo, session: str, changes: int) -> None:
        """The set-based commit of a session's staged rows (what the inline projection runs)."""
        repo.base_seq += 1
        seq = repo.base_seq
        columns = "address, size, etag, content_type, metadata, last_modified, source_metadata"
        with self.raw.transaction():
            self.raw.execute(
                "UPDATE bench_entries SET valid_to = ? WHERE repository_id = ? AND valid_to = ?"
                " AND path IN (SELECT path FROM bench_staged WHERE session_id = ?)",
                (seq, repo.id, INF, session),
            )
            self.raw.execute(
                f"INSERT INTO bench_entries (repository_id, path, valid_from, valid_to, {columns})"
                f" SELECT ?, path, ?, ?, {columns} FROM bench_staged"
                " WHERE session_id = ? AND op = 'put'",
                (repo.id, seq, INF, session),
            )
            self.raw.execute(
                "INSERT INTO bench_changes (repository_id, seq, path, op)"
                " SELECT ?, ?, path, op FROM bench_staged WHERE session_id = ?",
                (repo.id, seq, session),
            )
            self.raw.execute("DELETE FROM bench_staged WHERE session_id = ?", (session,))
            self.raw.execute(
                "INSERT INTO bench_commits VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                self._commit_row(repo.id, seq, changes),
            )

    def first_page(self, repo_id: str) -> int:
        """An index-range SELECT of one page of head entries."""
        rows = self.raw.all(
            f"SELECT {ENTRY} FROM catalog_entries WHERE repository_id = ? AND valid_to = ?"
            " AND path >= ? ORDER BY path LIMIT ?",
            (repo_id, INF, "", PAGE),
        )
        return len(rows)

    def close(self) -> None:
        self.raw.close()
