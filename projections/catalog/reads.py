"""SqlCatalogReads: the CatalogReads port over the catalog tables."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from application.sandboxes.ports import TreeEntry
from domain.catalog.paths import upper_bound
from domain.catalog.tree import Tree
from domain.shared.errors import NotFound
from projections.base import Reader
from projections.catalog import history, queries
from projections.catalog.catalog import INF

TREE_BATCH = 5000  # rows per keyset query of `tree_entries`


class SqlCatalogReads:
    """Adapter for application.ports.CatalogReads: the SQL lives in `queries`/`history`."""

    def __init__(self, db: Reader) -> None:
        self.db = db

    def session_entry(self, session_id: str, path: str) -> dict[str, Any] | None:
        session = queries.get_session(self.db, session_id)
        return queries.session_entry(self.db, session, path) if session else None

    def staged_changes(self, session_id: str) -> list[dict[str, Any]]:
        return history.staged_changes(self.db, session_id)

    def conflicting_paths(
        self, repository_id: str, session_id: str, base_seq: int, head_seq: int
    ) -> list[str]:
        return history.conflicting_paths(self.db, repository_id, session_id, base_seq, head_seq)

    def commit_seq(self, repository_id: str, commit_id: str) -> int | None:
        row = history.commit_row(self.db, repository_id, commit_id)
        return int(row["seq"]) if row else None

    def commit_row_by_seq(self, repository_id: str, seq: int) -> dict[str, Any] | None:
        return history.commit_by_seq(self.db, repository_id, seq)

    def repositories(self) -> list[dict[str, Any]]:
        return self.db.query("SELECT * FROM catalog_repositories ORDER BY id")

    def changes_of(self, repository_id: str, seq: int) -> list[dict[str, Any]]:
        return self.db.query(
            "SELECT path, op FROM catalog_changes WHERE repository_id = ?"
            " AND seq = ? ORDER BY path",
            (repository_id, seq),
        )

    def entry_before(self, repository_id: str, path: str, seq: int) -> dict[str, Any] | None:
        return queries.entry_at(self.db, repository_id, path, seq - 1) if seq > 1 else None

    def paths_changed_after(
        self, repository_id: str, paths: list[str], seq: int, head_seq: int
    ) -> list[str]:
        found: set[str] = set()
        for start in range(0, len(paths), 500):
            chunk = paths[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.query(
                f"SELECT DISTINCT path FROM catalog_changes WHERE repository_id = ? AND seq > ?"
                f" AND seq <= ? AND path IN ({marks})",
                (repository_id, seq, head_seq, *chunk),
            )
            found.update(r["path"] for r in rows)
        return sorted(found)

    def tree_entries(self, repository_id: str, commit_id: str, prefix: str) -> Iterator[TreeEntry]:
        """Every object of a commit under `prefix` (a folder: `data` means `data/`), paths
        relative to it, in path order: keyset batches, so 100k objects cost 20 index range
        reads and never sit in memory at once. An empty commit id is the empty tree."""
        seq = self.commit_seq(repository_id, commit_id) if commit_id else 0
        if seq is None:
            raise NotFound(f"commit '{commit_id}' not found")
        folder = prefix.strip("/") + "/" if prefix.strip("/") else ""
        # The head reads the (repository, valid_to, path) index; history the primary key.
        visible, params = (
            ("valid_to = ?", (INF,))
            if seq == self.head_seq(repository_id)
            else ("valid_from <= ? AND +valid_to > ?", (seq, seq))
        )
        after, op = folder, ">="
        while seq:
            rows = self.db.query(
                "SELECT path, address, etag, size FROM catalog_entries WHERE repository_id = ?"
                f" AND {visible} AND path {op} ? AND path < ? ORDER BY path LIMIT ?",
                (repository_id, *params, after, upper_bound(folder), TREE_BATCH),
            )
            for row in rows:
                yield TreeEntry(
                    row["path"][len(folder) :],
                    f"{row['address']}/{row['etag']}",
                    int(row["size"]),
                )
            if len(rows) < TREE_BATCH:
                return
            after, op = rows[-1]["path"], ">"

    def stale_boundary(self, repository_id: str, before: str) -> int:
        row = self.db.query_one(
            "SELECT MAX(seq) AS seq FROM catalog_commits"
            " WHERE repository_id = ? AND creation_date < ?",
            (repository_id, before),
        )
        return int(row["seq"] or 0) if row else 0

    def referenced(self, addresses: list[str]) -> set[str]:
        out: set[str] = set()
        for start in range(0, len(addresses), 400):
            out |= queries.referenced_addresses(self.db, addresses[start : start + 400])
        return out

    def open_sessions_before(self, opened_before: str) -> list[dict[str, Any]]:
        return self.db.query(
            "SELECT * FROM catalog_sessions WHERE status IN"
            " ('open', 'pending_approval') AND opened_at < ?",
            (opened_before,),
        )

    # -- queries ----------------------------------------------------------------------------
    def session_row(self, session_id: str) -> dict[str, Any] | None:
        return queries.get_session(self.db, session_id)

    def commit_row(self, repository_id: str, commit_id: str) -> dict[str, Any] | None:
        return history.commit_row(self.db, repository_id, commit_id)

    def commit_of_session(self, repository_id: str, session_id: str) -> dict[str, Any] | None:
        return history.commit_of_session(self.db, repository_id, session_id)

    def head_seq(self, repository_id: str) -> int:
        return history.head_seq(self.db, repository_id)

    def entry(self, tree: Tree, path: str) -> dict[str, Any] | None:
        if tree.session_id:
            return queries.session_entry(self.db, _session(tree), path)
        return queries.entry_at(self.db, tree.repository_id, path, tree.seq)

    def live_head_entry(
        self, repository_id: str, organization_id: str, name: str, path: str
    ) -> dict[str, Any] | None:
        return queries.live_head_entry(self.db, repository_id, organization_id, name, path)

    def listing(
        self, tree: Tree, *, prefix: str, delimiter: str, after: str, amount: int
    ) -> list[dict[str, Any]]:
        fetch = (
            queries.session_fetch(self.db, _session(tree), prefix)
            if tree.session_id
            else queries.committed_fetch(self.db, tree.repository_id, tree.seq, prefix)
        )
        return queries.listing(
            fetch, prefix=prefix, delimiter=delimiter, after=after, amount=amount
        )

    def log(
        self, repository_id: str, *, below_seq: int, prefix: str, path: str, amount: int
    ) -> list[dict[str, Any]]:
        return history.log(
            self.db, repository_id, below_seq=below_seq, prefix=prefix, path=path, amount=amount
        )

    def diff_commits(
        self,
        repository_id: str,
        left: int,
        right: int,
        *,
        prefix: str,
        after: str,
        amount: int,
        delimiter: str,
    ) -> list[dict[str, Any]]:
        return history.diff_commits(
            self.db,
            repository_id,
            left,
            right,
            prefix=prefix,
            after=after,
            amount=amount,
            delimiter=delimiter,
        )

    def diff_staged(
        self, tree: Tree, *, prefix: str, after: str, amount: int
    ) -> list[dict[str, Any]]:
        return history.diff_session(
            self.db, _session(tree), prefix=prefix, after=after, amount=amount
        )


def _session(tree: Tree) -> dict[str, Any]:
    """The session fields the staged-view queries use."""
    return {"id": tree.session_id, "repository_id": tree.repository_id, "base_seq": tree.seq}
