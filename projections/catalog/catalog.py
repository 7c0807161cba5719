"""CatalogView: committed entries (temporal), per-commit changes, commits, staged entries.

Applied *inline*, in the transaction that appends the catalog's events, so a commit's rows
are visible exactly when its event is — never a partial commit, never lag. A commit of k
changes closes k rows and inserts k rows (set-based SQL from the staged rows): O(k log N).
"""

from __future__ import annotations

import json
from typing import Any

from domain.catalog.repository import Repository
from domain.catalog.session import Session
from domain.catalog.staging import StagingShard
from domain.shared.values import stamp
from projections.base import Cursor, View, on

INF = 9223372036854775807  # valid_to of entry versions visible at the head
ENTRY_COLUMNS = (
    "address",
    "size",
    "etag",
    "content_type",
    "metadata",
    "last_modified",
    "source_metadata",
)


def unchanged(base: str) -> str:
    """SQL, true when the staged row `s` changes nothing at the session's base commit
    `base` (an SQL expression, e.g. `?` — then bound four times): a put of the content
    already there (domain.catalog.content), or a delete of a path that was not there.
    One primary-key seek per row, so a commit stays O(changes)."""
    # `+valid_to` keeps SQLite on the primary key (see queries.entries_at).
    at_base = (
        "SELECT 1 FROM catalog_entries e WHERE e.repository_id = s.repository_id"
        f" AND e.path = s.path AND e.valid_from <= {base} AND +e.valid_to > {base}"
    )
    same = (
        " AND e.etag = s.etag AND e.size = s.size AND e.content_type = s.content_type"
        " AND e.metadata = s.metadata"
    )
    return f"(CASE WHEN s.op = 'put' THEN EXISTS ({at_base}{same}) ELSE NOT EXISTS ({at_base}) END)"


def _path(dialect: str) -> str:
    # Byte order for paths on both databases: prefixes are ranges, cursors compare bytewise.
    return 'TEXT COLLATE "C"' if dialect == "postgresql" else "TEXT"


class CatalogView(View):
    """The versioned catalog's tables."""

    name = "catalog"
    inline = True
    follows = {
        "catalog": (
            StagingShard.Staged,
            Session.Opened,
            Session.ApprovalRequested,
            Session.Committed,
            Session.RolledBack,
            Repository.Created,
            Repository.Updated,
            Repository.Deleted,
            Repository.Restored,
            Repository.CommitAdded,
            Repository.RetentionApplied,
            Repository.Purged,
        )
    }
    tables = (
        "catalog_entries",
        "catalog_changes",
        "catalog_commits",
        "catalog_staged",
        "catalog_sessions",
        "catalog_repositories",
    )

    def create_statements(self, dialect: str) -> list[str]:
        path = _path(dialect)
        entry = (
            "address TEXT NOT NULL, size BIGINT NOT NULL, etag TEXT NOT NULL,"
            " content_type TEXT NOT NULL, metadata TEXT NOT NULL,"
            " last_modified TEXT NOT NULL, source_metadata TEXT"
        )
        return [
            f"CREATE TABLE IF NOT EXISTS catalog_entries (repository_id TEXT NOT NULL,"
            f" path {path} NOT NULL, valid_from BIGINT NOT NULL, valid_to BIGINT NOT NULL,"
            f" {entry}, PRIMARY KEY (repository_id, path, valid_from))",
            "CREATE INDEX IF NOT EXISTS catalog_entries_head"
            " ON catalog_entries (repository_id, valid_to, path)",
            "CREATE INDEX IF NOT EXISTS catalog_entries_address ON catalog_entries (address)",
            f"CREATE TABLE IF NOT EXISTS catalog_changes (repository_id TEXT NOT NULL,"
            f" seq BIGINT NOT NULL, path {path} NOT NULL, op TEXT NOT NULL,"
            " PRIMARY KEY (repository_id, seq, path))",
            "CREATE INDEX IF NOT EXISTS catalog_changes_path"
            " ON catalog_changes (repository_id, path, seq)",
            "CREATE TABLE IF NOT EXISTS catalog_commits (repository_id TEXT NOT NULL,"
            " seq BIGINT NOT NULL, id TEXT NOT NULL, parents TEXT NOT NULL, message TEXT NOT NULL,"
            " metadata TEXT NOT NULL, committer TEXT NOT NULL, committer_type TEXT NOT NULL,"
            " committer_id TEXT NOT NULL, creation_date TEXT NOT NULL, session_id TEXT NOT NULL,"
            " kind TEXT NOT NULL, changes BIGINT NOT NULL, PRIMARY KEY (repository_id, seq))",
            "CREATE UNIQUE INDEX IF NOT EXISTS catalog_commits_id"
            " ON catalog_commits (repository_id, id)",
            f"CREATE TABLE IF NOT EXISTS catalog_staged (session_id TEXT NOT NULL,"
            f" path {path} NOT NULL, repository_id TEXT NOT NULL, op TEXT NOT NULL, {entry},"
            " PRIMARY KEY (session_id, path))",
            "CREATE INDEX IF NOT EXISTS catalog_staged_address ON catalog_staged (address)",
            "CREATE TABLE IF NOT EXISTS catalog_sessions (id TEXT PRIMARY KEY,"
            " repository_id TEXT NOT NULL, organization_id TEXT NOT NULL,"
            " base_seq BIGINT NOT NULL, status TEXT NOT NULL, opened_by_type TEXT NOT NULL,"
            " opened_by TEXT NOT NULL, opened_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
            " purpose TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS catalog_sessions_repo"
            " ON catalog_sessions (repository_id, status)",
            "CREATE TABLE IF NOT EXISTS catalog_repositories (id TEXT PRIMARY KEY,"
            " organization_id TEXT NOT NULL, name TEXT NOT NULL, retention_days BIGINT NOT NULL,"
            " session_max_duration_days BIGINT NOT NULL, deleted BOOLEAN NOT NULL,"
            " purged BOOLEAN NOT NULL)",
        ]

    @on(Repository.Created)
    def _repository(self, cur: Cursor, e: Repository.Created) -> None:
        cur.execute(
            "INSERT INTO catalog_repositories (id, organization_id, name, retention_days,"
            " session_max_duration_days, deleted, purged) VALUES (?,?,?,?,?,?,?)",
            (
                str(e.originator_id),
                e.organization_id,
                e.name,
                e.settings.get("retention_days") or 14,
                e.settings.get("session_max_duration_days") or 7,
                False,
                False,
            ),
        )

    @on(Repository.Updated)
    def _repository_updated(self, cur: Cursor, e: Repository.Updated) -> None:
        for field in ("retention_days", "session_max_duration_days"):
            if e.settings.get(field):
                cur.execute(
                    f"UPDATE catalog_repositories SET {field} = ? WHERE id = ?",
                    (e.settings[field], str(e.originator_id)),
                )

    @on(Repository.Deleted, Repository.Restored)
    def _repository_deleted(self, cur: Cursor, e: Repository.Deleted) -> None:
        deleted = isinstance(e, Repository.Deleted)
        cur.execute(
            "UPDATE catalog_repositories SET deleted = ? WHERE id = ?",
            (deleted, str(e.originator_id)),
        )

    @on(StagingShard.Staged)
    def _staged(self, cur: Cursor, e: StagingShard.Staged) -> None:
        rows = [
            (
                e.session_id,
                x["path"],
                e.repository_id,
                x["op"],
                x["address"],
                x["size"],
                x["etag"],
                x["content_type"],
                json.dumps(x["metadata"], sort_keys=True),
                x["last_modified"],
                json.dumps(x["source_metadata"], sort_keys=True)
                if x.get("source_metadata")
                else None,
            )
            for x in {x["path"]: x for x in e.entries}.values()
        ]
        cur.executemany(
            "INSERT INTO catalog_staged (session_id, path, repository_id, op, address, size,"
            " etag, content_type, metadata, last_modified, source_metadata)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (session_id, path) DO UPDATE SET"
            " op = excluded.op, address = excluded.address, size = excluded.size,"
            " etag = excluded.etag, content_type = excluded.content_type,"
            " metadata = excluded.metadata, last_modified = excluded.last_modified,"
            " source_metadata = excluded.source_metadata",
            rows,
        )

    @on(Session.Opened)
    def _opened(self, cur: Cursor, e: Session.Opened) -> None:
        at = stamp(e.timestamp)
        cur.execute(
            "INSERT INTO catalog_sessions (id, repository_id, organization_id, base_seq,"
            " status, opened_by_type, opened_by, opened_at, updated_at, purpose)"
            " VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                str(e.originator_id),
                e.repository_id,
                e.organization_id,
                e.base_seq,
                "open",
                e.actor_type,
                e.actor_id,
                at,
                at,
                e.purpose,
            ),
        )

    @on(Session.ApprovalRequested, Session.Committed)
    def _status(self, cur: Cursor, e: Any) -> None:
        status = "pending_approval" if isinstance(e, Session.ApprovalRequested) else "committed"
        cur.execute(
            "UPDATE catalog_sessions SET status = ?, updated_at = ? WHERE id = ?",
            (status, stamp(e.timestamp), str(e.originator_id)),
        )

    @on(Session.RolledBack)
    def _rolled_back(self, cur: Cursor, e: Session.RolledBack) -> None:
        session_id = str(e.originator_id)
        cur.execute("DELETE FROM catalog_staged WHERE session_id = ?", (session_id,))
        cur.execute(
            "UPDATE catalog_sessions SET status = 'rolled_back', updated_at = ? WHERE id = ?",
            (stamp(e.timestamp), session_id),
        )

    @on(Repository.CommitAdded)
    def _committed(self, cur: Cursor, e: Repository.CommitAdded) -> None:
        repo, seq, session = str(e.originator_id), e.seq, e.session_id
        # A staged row equal to its base is no change: the commit leaves that path alone
        # (no new version, no change row), as the command that decided it counted.
        cur.execute("SELECT base_seq FROM catalog_sessions WHERE id = ?", (session,))
        found = cur.fetchone()
        if found is not None:
            base = found["base_seq"]
            cur.execute(
                f"DELETE FROM catalog_staged AS s WHERE s.session_id = ? AND {unchanged('?')}",
                (session, base, base, base, base),
            )
        cur.execute(
            "UPDATE catalog_entries SET valid_to = ? WHERE repository_id = ?"
            " AND valid_to = ? AND path IN (SELECT path FROM catalog_staged"
            " WHERE session_id = ?)",
            (seq, repo, INF, session),
        )
        # ON CONFLICT DO NOTHING: rows of this (repository, seq) exist only if a concurrent
        # commit took the same seq; this transaction then fails on the event insert anyway
        # (same Repository version). Failing here instead would abort the PostgreSQL pipeline
        # ahead of the recorder's prepared statements and poison psycopg's prepared-statement
        # cache for the connection ("prepared statement _pg3_N does not exist" later).
        columns = ", ".join(ENTRY_COLUMNS)
        cur.execute(
            f"INSERT INTO catalog_entries (repository_id, path, valid_from, valid_to,"
            f" {columns}) SELECT ?, path, ?, ?, {columns} FROM catalog_staged"
            " WHERE session_id = ? AND op = 'put' ON CONFLICT DO NOTHING",
            (repo, seq, INF, session),
        )
        cur.execute(
            "INSERT INTO catalog_changes (repository_id, seq, path, op)"
            " SELECT ?, ?, path, op FROM catalog_staged WHERE session_id = ?"
            " ON CONFLICT DO NOTHING",
            (repo, seq, session),
        )
        cur.execute("DELETE FROM catalog_staged WHERE session_id = ?", (session,))
        cur.execute(
            "INSERT INTO catalog_commits (repository_id, seq, id, parents, message,"
            " metadata, committer, committer_type, committer_id, creation_date,"
            " session_id, kind, changes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT DO NOTHING",
            (
                repo,
                seq,
                e.commit_id,
                json.dumps(e.parents),
                e.message,
                json.dumps(e.metadata, sort_keys=True),
                e.committer,
                e.actor_type,
                e.actor_id,
                stamp(e.timestamp),
                session,
                e.kind,
                e.changes,
            ),
        )

    @on(Repository.RetentionApplied)
    def _retention(self, cur: Cursor, e: Repository.RetentionApplied) -> None:
        cur.execute(
            "DELETE FROM catalog_entries WHERE repository_id = ? AND valid_to <= ?",
            (str(e.originator_id), e.up_to_seq),
        )

    @on(Repository.Purged)
    def _purged(self, cur: Cursor, e: Repository.Purged) -> None:
        repo = str(e.originator_id)
        for table in ("catalog_entries", "catalog_changes", "catalog_commits", "catalog_staged"):
            cur.execute(f"DELETE FROM {table} WHERE repository_id = ?", (repo,))
        cur.execute("DELETE FROM catalog_sessions WHERE repository_id = ?", (repo,))
        cur.execute("UPDATE catalog_repositories SET purged = ? WHERE id = ?", (True, repo))
