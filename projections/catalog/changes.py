"""What one commit changed, by lookups: range (prefix) and point (path) reads of the
per-commit changes table, each change classified as added, removed or changed (existed
before and after) by the entry version the commit closed. Trigger evaluation reads these:
its cost follows the lookups and their matches, never the size of the commit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from domain.catalog.paths import upper_bound
from domain.triggers.conditions import Change
from projections.base import Reader
from projections.catalog import history

_SELECT = (
    "SELECT c.path, c.op, n.size AS new_size, o.size AS old_size FROM catalog_changes c"
    " LEFT JOIN catalog_entries n ON n.repository_id = c.repository_id AND n.path = c.path"
    " AND n.valid_from = c.seq"
    " LEFT JOIN catalog_entries o ON o.repository_id = c.repository_id AND o.path = c.path"
    " AND o.valid_to = c.seq"
    " WHERE c.repository_id = ? AND c.seq = ?"
)
_COUNT = (
    "SELECT COUNT(*) AS n FROM catalog_changes c"
    " LEFT JOIN catalog_entries o ON o.repository_id = c.repository_id AND o.path = c.path"
    " AND o.valid_to = c.seq"
    " WHERE c.repository_id = ? AND c.seq = ?"
)
_DIFF = {
    "any": "",
    "removed": " AND c.op = 'delete'",
    "added": " AND c.op <> 'delete' AND o.path IS NULL",
    "changed": " AND c.op <> 'delete' AND o.path IS NOT NULL",
}


def _change(row: dict[str, Any]) -> Change:
    if row["op"] == "delete":
        return Change(row["path"], "removed", int(row["old_size"] or 0))
    kind = "added" if row["old_size"] is None else "changed"
    return Change(row["path"], kind, int(row["new_size"] or 0))


def changes_in_range(
    db: Reader, repository_id: str, seq: int, prefix: str, diff_type: str = "any", *,
    after: str = "", limit: int = 1000,
) -> list[Change]:  # fmt: skip
    """Changes of commit `seq` under `prefix` (after the path `after`), by path."""
    low = max(prefix, after + "\x00") if after else prefix
    rows = db.query(
        f"{_SELECT} AND c.path >= ? AND c.path < ?{_DIFF[diff_type]} ORDER BY c.path LIMIT ?",
        (repository_id, seq, low, upper_bound(prefix), limit),
    )
    return [_change(r) for r in rows]


def count_changes(
    db: Reader, repository_id: str, seq: int, prefix: str = "", diff_type: str = "any"
) -> int:
    """How many changes of commit `seq` lie under `prefix` (one index range count)."""
    row = db.query_one(
        f"{_COUNT} AND c.path >= ? AND c.path < ?{_DIFF[diff_type]}",
        (repository_id, seq, prefix, upper_bound(prefix)),
    )
    return int(row["n"]) if row else 0


def change_at(db: Reader, repository_id: str, seq: int, path: str) -> Change | None:
    """The change commit `seq` made at `path`, if any (one point lookup)."""
    row = db.query_one(f"{_SELECT} AND c.path = ?", (repository_id, seq, path))
    return _change(row) if row else None


class CommitLookup:
    """ChangeLookup over one commit of one repository."""

    def __init__(self, db: Reader, repository_id: str, seq: int) -> None:
        self.db = db
        self.repository_id = repository_id
        self.seq = seq

    def under(self, prefix: str, diff_type: str, limit: int) -> list[Change]:
        out: list[Change] = []
        after = ""
        while len(out) < limit:  # pages of 10,000: a huge limit streams, not one query
            page = changes_in_range(
                self.db, self.repository_id, self.seq, prefix, diff_type,
                after=after, limit=min(10_000, limit - len(out)),
            )  # fmt: skip
            out.extend(page)
            if len(page) < min(10_000, limit - len(out) + len(page)):
                break
            after = page[-1].path
        return out

    def each(self, prefix: str, diff_type: str) -> Iterator[Change]:
        after = ""
        while True:
            page = changes_in_range(
                self.db, self.repository_id, self.seq, prefix, diff_type, after=after,
                limit=10_000,
            )  # fmt: skip
            yield from page
            if len(page) < 10_000:
                return
            after = page[-1].path

    def count_under(self, prefix: str, diff_type: str) -> int:
        return count_changes(self.db, self.repository_id, self.seq, prefix, diff_type)

    def at(self, path: str) -> Change | None:
        return change_at(self.db, self.repository_id, self.seq, path)


class SqlCommitChanges:
    """Adapter for application.triggers.CommitChanges over the catalog tables."""

    def __init__(self, db: Reader) -> None:
        self.db = db

    def lookup(self, repository_id: str, seq: int) -> CommitLookup:
        return CommitLookup(self.db, repository_id, seq)

    def commit_seq(self, repository_id: str, commit_id: str) -> int | None:
        row = history.commit_row(self.db, repository_id, commit_id)
        return int(row["seq"]) if row else None
