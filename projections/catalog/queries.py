"""Reads of the catalog tables: entries at a commit or in a session, listings, the log, diffs.

Every listing is keyset-paginated on the path (byte order) and costs O(page · log N): the
head is read through the (repository, valid_to, path) index; history through the
(repository, path, valid_from) primary key; a diff walks only the changes table between the
two commits, so its cost follows the churn, not the repository size.
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
def committed_fetch(db: Reader, repository_id: str, seq: int | None, prefix: str) -> Fetch:
    where, params = _visible(seq)

    def fetch(after: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
        low = max(after, prefix) if after else prefix
        op = ">" if after and after >= prefix else ">="
        rows = db.query(
            f"SELECT {ENTRY} FROM catalog_entries WHERE repository_id = ?"
            f" AND {where} AND path {op} ? AND path < ? ORDER BY path LIMIT ?",
            (repository_id, *params, low, upper_bound(prefix), limit),
        )
        return rows, len(rows) < limit

    return fetch


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
        base_rows, base_done = base(after, limit)
        staged_rows, staged_done = staged(after, limit)
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
        if not rows and not exhausted:  # everything in this round was deleted: go on
            more, done = fetch(horizon, limit)
            return more, done
        return rows, exhausted

    return fetch


def listing(
    fetch: Fetch, *, prefix: str, delimiter: str, after: str, amount: int
) -> list[dict[str, Any]]:
    """Up to `amount + 1` ListingEntries (objects, and prefixes when a delimiter is given)."""
    out: list[dict[str, Any]] = []
    cursor = after
    if delimiter and after.endswith(delimiter):
        cursor = upper_bound(after)  # `after` was a prefix: skip everything under it
    batch = min(amount + 1, 1000)
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
        batch = min(batch * 2, 1000)
    return out[: amount + 1]


# -- commits ------------------------------------------------------------------------------
def commit_row(db: Reader, repository_id: str, commit_id: str) -> dict[str, Any] | None:
    return db.query_one(
        "SELECT * FROM catalog_commits WHERE repository_id = ? AND id = ?",
        (repository_id, commit_id),
    )


def commit_by_seq(db: Reader, repository_id: str, seq: int) -> dict[str, Any] | None:
    return db.query_one(
        "SELECT * FROM catalog_commits WHERE repository_id = ? AND seq = ?", (repository_id, seq)
    )


def log(
    db: Reader,
    repository_id: str,
    *,
    below_seq: int,
    prefix: str = "",
    path: str = "",
    amount: int = 100,
) -> list[dict[str, Any]]:
    """Commits newest first with seq < below_seq, optionally only those touching a path."""
    if path or prefix:
        if path:
            cond, params = "ch.path = ?", (path,)
        else:
            cond, params = "ch.path >= ? AND ch.path < ?", (prefix, upper_bound(prefix))
        return db.query(
            "SELECT c.* FROM catalog_commits c WHERE c.repository_id = ? AND c.seq < ?"
            " AND EXISTS (SELECT 1 FROM catalog_changes ch WHERE ch.repository_id = c.repository_id"
            f" AND ch.seq = c.seq AND {cond}) ORDER BY c.seq DESC LIMIT ?",
            (repository_id, below_seq, *params, amount),
        )
    return db.query(
        "SELECT * FROM catalog_commits WHERE repository_id = ? AND seq < ?"
        " ORDER BY seq DESC LIMIT ?",
        (repository_id, below_seq, amount),
    )


def conflicting_paths(
    db: Reader, repository_id: str, session_id: str, base_seq: int, head_seq: int, limit: int = 20
) -> list[str]:
    """Paths staged in the session that commits after its base changed (O(churn))."""
    if head_seq <= base_seq:
        return []
    rows = db.query(
        "SELECT ch.path FROM catalog_changes ch JOIN catalog_staged s"
        " ON s.session_id = ? AND s.path = ch.path WHERE ch.repository_id = ?"
        " AND ch.seq > ? AND ch.seq <= ? ORDER BY ch.path LIMIT ?",
        (session_id, repository_id, base_seq, head_seq, limit),
    )
    return sorted({r["path"] for r in rows})


def staged_changes(db: Reader, session_id: str) -> list[dict[str, Any]]:
    return db.query(
        "SELECT path, op, address, etag FROM catalog_staged WHERE session_id = ?", (session_id,)
    )


# -- diffs --------------------------------------------------------------------------------
def _status(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str | None:
    if before is None:
        return "added" if after is not None else None
    if after is None:
        return "removed"
    if (before["address"], before["etag"], before["metadata"], before["content_type"]) == (
        after["address"],
        after["etag"],
        after["metadata"],
        after["content_type"],
    ):
        return None
    return "modified"


def diff_commits(
    db: Reader,
    repository_id: str,
    left: int,
    right: int,
    *,
    prefix: str,
    after: str,
    amount: int,
    delimiter: str = "",
) -> list[dict[str, Any]]:
    """Differences between two commits (left < right, or the reverse), by path."""
    low, high = min(left, right), max(left, right)
    rows: list[dict[str, Any]] = []
    cursor = max(after, prefix) if after else prefix
    op = ">" if after and after >= prefix else ">="
    if delimiter and after.endswith(delimiter):
        cursor, op = upper_bound(after), ">="
    while len(rows) <= amount:
        paths = [
            r["path"]
            for r in db.query(
                "SELECT DISTINCT path FROM catalog_changes WHERE repository_id = ? AND seq > ?"
                f" AND seq <= ? AND path {op} ? AND path < ? ORDER BY path LIMIT ?",
                (repository_id, low, high, cursor, upper_bound(prefix), amount + 1),
            )
        ]
        if not paths:
            break
        for path in paths:
            before = entry_at(db, repository_id, path, left)
            now = entry_at(db, repository_id, path, right)
            status = _status(before, now)
            if status is None:
                continue
            if delimiter and (cut := path.find(delimiter, len(prefix))) >= 0:
                directory = path[: cut + len(delimiter)]
                if not rows or rows[-1]["path"] != directory:
                    rows.append({"path": directory, "type": "prefix"})
                continue
            shown = now if now is not None else before
            assert shown is not None
            rows.append(
                {"path": path, "type": "object", "entry": entry_json(shown), "status": status}
            )
        cursor, op = paths[-1], ">"
        if len(paths) <= amount:
            break
    return rows[: amount + 1]


def diff_session(
    db: Reader, session: dict[str, Any], *, prefix: str, after: str, amount: int
) -> list[dict[str, Any]]:
    """A session's staged changes against its base, with status added/modified/removed."""
    out: list[dict[str, Any]] = []
    cursor = after
    fetch = staged_fetch(db, session["id"], prefix)
    while len(out) <= amount:
        rows, exhausted = fetch(cursor, amount + 1)
        for row in rows:
            before = entry_at(db, session["repository_id"], row["path"], session["base_seq"])
            now = row if row["op"] == "put" else None
            status = _status(before, now) or ("modified" if now is not None else None)
            cursor = row["path"]
            if status is None:
                continue
            shown = now if now is not None else before
            assert shown is not None
            out.append(
                {
                    "path": row["path"],
                    "type": "object",
                    "entry": entry_json(shown),
                    "status": status,
                }
            )
        if exhausted:
            break
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
