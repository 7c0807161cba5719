"""Reads of the catalog tables: entries at a commit or in a session, and listings (the
history — commits, log, diffs — is in `history`).

Every listing is keyset-paginated on the path (byte order) and costs O(page · log N): the
head is read through the (repository, valid_to, path) index; history through the
(repository, path, valid_from) primary key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from domain.catalog.paths import upper_bound
from projections.base import Reader
from projections.catalog.catalog import INF

ENTRY = "path, address, size, etag, content_type, metadata, last_modified, source_metadata"
Fetch = Callable[[str, int], tuple[list[dict[str, Any]], bool]]
LOOKUP_CHUNK = 500  # paths per IN list (SQLite's old 999-variable cap)
FETCH_MAX = 1001  # rows per listing query: the largest page (1,000) and its probe row
SKIP_MAX = 8192  # rows per round when a session's staged deletes hide everything read


def entry_json(row: dict[str, Any]) -> dict[str, Any]:
    """The wire `Entry` of a row (ETag quoted, as S3 and the SDK expect)."""
    entry: dict[str, Any] = {
        "last_modified": row["last_modified"],
        "size": int(row["size"]),
        "e_tag": f'"{row["etag"]}"',
        "metadata": json.loads(row["metadata"] or "{}"),
        "content_type": row["content_type"],
    }
    if row.get("source_metadata"):
        entry["source_metadata"] = json.loads(row["source_metadata"])
    return entry


def _visible(seq: int | None) -> tuple[str, tuple[Any, ...]]:
    if seq is None:
        return "valid_to = ?", (INF,)
    return "valid_from <= ? AND valid_to > ?", (seq, seq)


def entry_at(db: Reader, repository_id: str, path: str, seq: int | None) -> dict[str, Any] | None:
    """The entry version visible at commit `seq` (None: the head)."""
    where, params = _visible(seq)
    return db.query_one(
        f"SELECT {ENTRY} FROM catalog_entries WHERE repository_id = ? AND path = ? AND {where}",
        (repository_id, path, *params),
    )


def live_head_entry(
    db: Reader, repository_id: str, organization_id: str, name: str, path: str
) -> dict[str, Any] | None:
    """`entry_at` the head, in the same statement as the check that the repository is live
    under that organization and name (one read instead of two)."""
    return db.query_one(
        f"SELECT {ENTRY} FROM catalog_entries WHERE repository_id = ? AND path = ?"
        " AND valid_to = ? AND EXISTS (SELECT 1 FROM catalog_repositories WHERE id = ?"
        " AND organization_id = ? AND name = ? AND NOT deleted)",
        (repository_id, path, INF, repository_id, organization_id, name),
    )


def entries_at(
    db: Reader, repository_id: str, paths: list[str], seq: int | None
) -> dict[str, dict[str, Any]]:
    """`entry_at` for many paths: {path: entry version visible at `seq`} (absent: none)."""
    where, params = _visible(seq)
    if seq is not None:
        # `+valid_to` keeps the (repository, valid_to, path) index out of a historical lookup:
        # SQLite took it for the `valid_to > ?` range and walked every later version, where
        # the primary key seeks each path (PostgreSQL picks the key either way).
        where = "valid_from <= ? AND +valid_to > ?"
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(paths), LOOKUP_CHUNK):
        chunk = paths[start : start + LOOKUP_CHUNK]
        rows = db.query(
            f"SELECT {ENTRY} FROM catalog_entries WHERE repository_id = ?"
            f" AND path IN ({','.join('?' * len(chunk))}) AND {where}",
            (repository_id, *chunk, *params),
        )
        for row in rows:
            found.setdefault(row["path"], row)
    return found


def staged_entry(db: Reader, session_id: str, path: str) -> dict[str, Any] | None:
    return db.query_one(
        f"SELECT op, {ENTRY} FROM catalog_staged WHERE session_id = ? AND path = ?",
        (session_id, path),
    )


def session_entry(db: Reader, session: dict[str, Any], path: str) -> dict[str, Any] | None:
    """What a session sees at `path`: its staged change, else the entry at its base."""
    staged = staged_entry(db, session["id"], path)
    if staged is not None:
        return staged if staged["op"] == "put" else None
    return entry_at(db, session["repository_id"], path, session["base_seq"])


def get_session(db: Reader, session_id: str) -> dict[str, Any] | None:
    return db.query_one("SELECT * FROM catalog_sessions WHERE id = ?", (session_id,))


# -- listings -----------------------------------------------------------------------------
class CommittedFetch:
    """The entries visible at a commit (None: the head) under a prefix, in path order; a
    `Fetch`, plus `walk` for listings with a delimiter."""

    def __init__(self, db: Reader, repository_id: str, seq: int | None, prefix: str) -> None:
        self.db = db
        self.repository_id = repository_id
        self.prefix = prefix
        self.where, self.params = _visible(seq)

    def __call__(self, after: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
        prefix = self.prefix
        low = max(after, prefix) if after else prefix
        op = ">" if after and after >= prefix else ">="
        rows = self.db.query(
            f"SELECT {ENTRY} FROM catalog_entries WHERE repository_id = ?"
            f" AND {self.where} AND path {op} ? AND path < ? ORDER BY path LIMIT ?",
            (self.repository_id, *self.params, low, upper_bound(prefix), limit),
        )
        return rows, len(rows) < limit

    def walk(self, cursor: str, delimiter: str, steps: int) -> list[dict[str, Any]]:
        """The rows a delimiter listing stops at, from `cursor` on, in one query: each step
        seeks the first path after the previous one, or after the whole directory of the
        previous one (a recursive CTE: O(steps · log N), not one round trip per directory).
        """
        prefix = self.prefix
        low = max(cursor, prefix) if cursor else prefix
        op = ">" if cursor and cursor >= prefix else ">="
        pg = self.db.dialect == "postgresql"
        # Characters, as Python's str.find: the delimiter after the prefix ends a directory.
        cut = f"{'strpos' if pg else 'instr'}(substr(w.path, {len(prefix) + 1}), ?)"
        after_directory = f"substr(w.path, 1, {len(prefix) - 1 + len(delimiter)} + {cut}) || ?"
        following = f"(CASE WHEN {cut} > 0 THEN {after_directory} ELSE w.path END)"
        collate = ' COLLATE "C"' if pg else ""  # byte order, as the path column
        where_e = self.where.replace("valid_", "e.valid_")
        seek = (
            "SELECT e.path FROM catalog_entries e WHERE e.repository_id = ?"
            f" AND {where_e} AND e.path {{op}} {{low}}{collate} AND e.path < ?{collate}"
            " ORDER BY e.path LIMIT 1"
        )
        columns = ", ".join(f"e.{c.strip()}" for c in ENTRY.split(","))
        high = upper_bound(prefix)
        return self.db.query(
            "WITH RECURSIVE w(path, n) AS ("
            f" SELECT ({seek.format(op=op, low='?')}), 1"
            f" UNION ALL SELECT ({seek.format(op='>', low=following)}), w.n + 1"
            f" FROM w WHERE w.path IS NOT NULL AND w.n < {int(steps)})"
            # CROSS JOIN: SQLite keeps `w` outside (it otherwise walked the whole head).
            f" SELECT {columns} FROM w CROSS JOIN catalog_entries e WHERE e.repository_id = ?"
            f" AND e.path = w.path AND {where_e} ORDER BY w.n",
            (
                *(self.repository_id, *self.params, low, high),
                *(self.repository_id, *self.params, delimiter, delimiter, upper_bound("")),
                high,
                *(self.repository_id, *self.params),
            ),
        )


def committed_fetch(db: Reader, repository_id: str, seq: int | None, prefix: str) -> Fetch:
    return CommittedFetch(db, repository_id, seq, prefix)


def staged_fetch(db: Reader, session_id: str, prefix: str) -> Fetch:
    def fetch(after: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
        low = max(after, prefix) if after else prefix
        op = ">" if after and after >= prefix else ">="
        rows = db.query(
            f"SELECT op, {ENTRY} FROM catalog_staged WHERE session_id = ?"
            f" AND path {op} ? AND path < ? ORDER BY path LIMIT ?",
            (session_id, low, upper_bound(prefix), limit),
        )
        return rows, len(rows) < limit

    return fetch


def session_fetch(db: Reader, session: dict[str, Any], prefix: str) -> Fetch:
    """The session's view: staged changes over the entries at its base commit."""
    base = committed_fetch(db, session["repository_id"], session["base_seq"], prefix)
    staged = staged_fetch(db, session["id"], prefix)

    def fetch(after: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
        # A loop, not recursion: a run of staged deletes may hide any number of rows.
        # Rounds that find only deleted rows grow geometrically, so 100,000 staged
        # deletes ahead of a page of one cost a few hundred queries, not 100,000.
        batch = limit
        while True:
            base_rows, base_done = base(after, batch)
            staged_rows, staged_done = staged(after, batch)
            # Only paths below both sources' horizons are final in this round.
            horizon = min(
                base_rows[-1]["path"] if not base_done else upper_bound(""),
                staged_rows[-1]["path"] if not staged_done else upper_bound(""),
            )
            merged = {r["path"]: r for r in base_rows if r["path"] <= horizon}
            for row in staged_rows:
                if row["path"] <= horizon:
                    merged[row["path"]] = row
            rows = [r for _, r in sorted(merged.items()) if r.get("op", "put") == "put"]
            exhausted = base_done and staged_done
            if rows or exhausted:
                return rows, exhausted
            after, batch = horizon, min(batch * 2, SKIP_MAX)

    return fetch


def resume_after(after: str, prefix: str, delimiter: str) -> str:
    """Where a listing resumes after the entry `after`: past everything under it when it
    is one of this listing's prefix entries (its first delimiter at or beyond the end of
    the listing prefix ends it), else right after it. An object key that ends with the
    delimiter, or `after` equal to the prefix or a parent folder of it, is no such entry."""
    if delimiter and after.startswith(prefix):
        cut = after.find(delimiter, len(prefix))
        if cut >= 0 and cut + len(delimiter) == len(after):
            return upper_bound(after)
    return after


def listing(
    fetch: Fetch, *, prefix: str, delimiter: str, after: str, amount: int
) -> list[dict[str, Any]]:
    """Up to `amount + 1` ListingEntries (objects, and prefixes when a delimiter is given)."""
    out: list[dict[str, Any]] = []
    cursor = resume_after(after, prefix, delimiter)
    walk = getattr(fetch, "walk", None)
    if delimiter and walk is not None:  # committed entries: every stop in one query
        for row in walk(cursor, delimiter, amount + 1):
            path = row["path"]
            cut = path.find(delimiter, len(prefix))
            if cut < 0:
                out.append({"path": path, "type": "object", "entry": entry_json(row)})
            elif not out or out[-1]["path"] != path[: cut + len(delimiter)]:
                out.append({"path": path[: cut + len(delimiter)], "type": "prefix"})
        return out[: amount + 1]
    batch = min(amount + 1, FETCH_MAX)
    while len(out) <= amount:
        rows, exhausted = fetch(cursor, batch)
        skipped_dir = False
        for row in rows:
            path = row["path"]
            if delimiter:
                cut = path.find(delimiter, len(prefix))
                if cut >= 0:
                    directory = path[: cut + len(delimiter)]
                    if not out or out[-1]["path"] != directory:
                        out.append({"path": directory, "type": "prefix"})
                    cursor = upper_bound(directory)
                    skipped_dir = True
                    break
            out.append({"path": path, "type": "object", "entry": entry_json(row)})
            cursor = path
            if len(out) > amount:
                break
        if skipped_dir:
            batch = 16  # directories tend to be large: seek past them in small steps
            continue
        if exhausted or not rows:
            break
        # Never more rows than the page still needs (the old cap of 1,000 cost a second
        # 1,000-row query to find the probe row of a full page).
        batch = min(batch * 2, FETCH_MAX, amount + 1 - len(out))
    return out[: amount + 1]


def referenced_addresses(db: Reader, addresses: list[str]) -> set[str]:
    """Which of these blob addresses a retained entry version or a staged change uses."""
    if not addresses:
        return set()
    marks = ",".join("?" * len(addresses))
    rows = db.query(
        f"SELECT address FROM catalog_entries WHERE address IN ({marks})"
        f" UNION SELECT address FROM catalog_staged WHERE address IN ({marks})",
        (*addresses, *addresses),
    )
    return {r["address"] for r in rows}
