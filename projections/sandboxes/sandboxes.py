"""SandboxesView: every sandbox of a repository with its current status (list and get)."""

from __future__ import annotations

import json
from typing import Any

from domain.sandboxes.sandbox import Sandbox
from domain.shared.values import iso
from projections.base import Cursor, Reader, View, on

COLUMNS = (
    "id, organization_id, repository_id, image, command, mountpoint, path_prefix,"
    " timeout_seconds, mode, env_vars, status, status_reason, error_message, exit_code,"
    " commit_id, web_url, volume_name, container_id, engine, created_by_type, created_by,"
    " created_at, updated_at, finished_at, trigger_id, trigger_name, sort_key"
)


class SandboxesView(View):
    """One row per sandbox; `sort_key` (created_at|id) orders pages newest first."""

    name = "sandboxes"
    follows = {
        "sandboxes": (
            Sandbox.Requested,
            Sandbox.Claimed,
            Sandbox.Prepared,
            Sandbox.Started,
            Sandbox.Finished,
        )
    }
    tables = ("sandboxes",)

    def create_statements(self, dialect: str) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS sandboxes ("
            " id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, repository_id TEXT NOT NULL,"
            " image TEXT NOT NULL, command TEXT NOT NULL, mountpoint TEXT NOT NULL,"
            " path_prefix TEXT NOT NULL, timeout_seconds BIGINT, mode TEXT NOT NULL,"
            " env_vars TEXT NOT NULL, status TEXT NOT NULL, status_reason TEXT NOT NULL,"
            " error_message TEXT NOT NULL, exit_code BIGINT, commit_id TEXT NOT NULL,"
            " web_url TEXT NOT NULL, volume_name TEXT NOT NULL, container_id TEXT NOT NULL,"
            " engine TEXT NOT NULL, created_by_type TEXT NOT NULL, created_by TEXT NOT NULL,"
            " created_at TEXT NOT NULL, updated_at TEXT NOT NULL, finished_at TEXT,"
            " trigger_id TEXT, trigger_name TEXT NOT NULL, sort_key TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS sandboxes_repo ON sandboxes (repository_id, sort_key)",
        ]

    @on(Sandbox.Requested)
    def _requested(self, cur: Cursor, e: Sandbox.Requested) -> None:
        at = iso(e.timestamp) or ""
        sid = str(e.originator_id)
        cur.execute(
            f"INSERT INTO sandboxes ({COLUMNS}) VALUES"
            " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (id) DO NOTHING",
            (sid, e.organization_id, e.repository_id, e.image, json.dumps(e.command or []),
             e.mountpoint, e.path_prefix, e.timeout_seconds, e.mode,
             json.dumps(e.env_vars, sort_keys=True), "starting", "created", "", None, "", "",
             "", "", "", e.actor_type, e.actor_id, at, at, None,
             e.trigger.get("id") or None, e.trigger.get("name", ""), f"{at}|{sid}"),
        )  # fmt: skip

    def _set(self, cur: Cursor, e: Any, **values: Any) -> None:
        values["updated_at"] = iso(e.timestamp)
        assignments = ", ".join(f"{k} = ?" for k in values)
        cur.execute(
            f"UPDATE sandboxes SET {assignments} WHERE id = ?",
            (*values.values(), str(e.originator_id)),
        )

    @on(Sandbox.Claimed)
    def _claimed(self, cur: Cursor, e: Sandbox.Claimed) -> None:
        self._set(cur, e, status="starting", status_reason="initializing")

    @on(Sandbox.Prepared)
    def _prepared(self, cur: Cursor, e: Sandbox.Prepared) -> None:
        self._set(cur, e, engine=e.engine, container_id=e.container_id, volume_name=e.volume_name)

    @on(Sandbox.Started)
    def _started(self, cur: Cursor, e: Sandbox.Started) -> None:
        self._set(cur, e, status="running", status_reason="")

    @on(Sandbox.Finished)
    def _finished(self, cur: Cursor, e: Sandbox.Finished) -> None:
        self._set(
            cur,
            e,
            status=e.status,
            status_reason=e.status_reason,
            exit_code=e.exit_code,
            commit_id=e.commit_id,
            web_url=e.web_url,
            error_message=e.error_message,
            finished_at=iso(e.timestamp),
        )


def _sandbox(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("sort_key", "organization_id", "engine")}
    out["command"] = json.loads(row["command"])
    out["env_vars"] = json.loads(row["env_vars"])
    out["trigger_id"] = row["trigger_id"] or None
    return out


def list_sandboxes(
    db: Reader, repository_id: str, *, after: str = "", amount: int = 100
) -> list[dict[str, Any]]:
    """Sandboxes of a repository, newest first; `after` is the previous page's `sort_key`."""
    sql = f"SELECT {COLUMNS} FROM sandboxes WHERE repository_id = ?"
    params: list[Any] = [repository_id]
    if after:
        sql += " AND sort_key < ?"
        params.append(after)
    rows = db.query(sql + " ORDER BY sort_key DESC LIMIT ?", (*params, amount))
    return [{**_sandbox(r), "sort_key": r["sort_key"]} for r in rows]


def get_sandbox(db: Reader, repository_id: str, sandbox_id: str) -> dict[str, Any] | None:
    row = db.query_one(
        f"SELECT {COLUMNS} FROM sandboxes WHERE repository_id = ? AND id = ?",
        (repository_id, sandbox_id),
    )
    return _sandbox(row) if row else None


class SqlSandboxReads:
    """`SandboxReads` over the view's table."""

    def __init__(self, db: Reader) -> None:
        self.db = db

    def list(self, repository_id: str, *, after: str, amount: int) -> list[dict[str, Any]]:
        return list_sandboxes(self.db, repository_id, after=after, amount=amount)

    def get(self, repository_id: str, sandbox_id: str) -> dict[str, Any] | None:
        return get_sandbox(self.db, repository_id, sandbox_id)
