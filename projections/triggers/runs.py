"""TriggerRunsView: every trigger run, newest first per trigger, and which sandbox each
launched (the loop guard asks which run a committing sandbox came from)."""

from __future__ import annotations

import json
from typing import Any

from domain.shared.values import iso
from domain.triggers.run import TriggerRun
from projections.base import Cursor, Reader, View, on


class TriggerRunsView(View):
    """One row per (trigger, commit) run."""

    name = "sandbox_trigger_runs"
    follows = {"triggers": (TriggerRun.Recorded, TriggerRun.Launched, TriggerRun.Failed)}
    tables = ("sandbox_trigger_runs",)

    def create_statements(self, dialect: str) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS sandbox_trigger_runs (id TEXT PRIMARY KEY,"
            " organization_id TEXT NOT NULL, repository_id TEXT NOT NULL,"
            " trigger_id TEXT NOT NULL, commit_id TEXT NOT NULL, seq BIGINT NOT NULL,"
            " status TEXT NOT NULL, reason TEXT NOT NULL, sandbox_id TEXT,"
            " matched_paths TEXT NOT NULL, matched_count BIGINT NOT NULL, depth INTEGER NOT NULL,"
            " created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS sandbox_trigger_runs_trigger"
            " ON sandbox_trigger_runs (trigger_id, created_at, id)",
            "CREATE INDEX IF NOT EXISTS sandbox_trigger_runs_sandbox"
            " ON sandbox_trigger_runs (sandbox_id)",
        ]

    @on(TriggerRun.Recorded)
    def _recorded(self, cur: Cursor, e: TriggerRun.Recorded) -> None:
        at = iso(e.timestamp)
        cur.execute(
            "INSERT INTO sandbox_trigger_runs (id, organization_id, repository_id, trigger_id,"
            " commit_id, seq, status, reason, sandbox_id, matched_paths, matched_count, depth,"
            " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (str(e.originator_id), e.organization_id, e.repository_id, e.trigger_id,
             e.commit_id, e.seq, e.status, e.reason, None, json.dumps(e.matched_paths),
             e.matched_count, e.depth, at, at),
        )  # fmt: skip

    @on(TriggerRun.Launched)
    def _launched(self, cur: Cursor, e: TriggerRun.Launched) -> None:
        cur.execute(
            "UPDATE sandbox_trigger_runs SET status = 'created', sandbox_id = ?, updated_at = ?"
            " WHERE id = ?",
            (e.sandbox_id, iso(e.timestamp), str(e.originator_id)),
        )

    @on(TriggerRun.Failed)
    def _failed(self, cur: Cursor, e: TriggerRun.Failed) -> None:
        cur.execute(
            "UPDATE sandbox_trigger_runs SET status = 'failed', reason = ?, updated_at = ?"
            " WHERE id = ?",
            (e.reason, iso(e.timestamp), str(e.originator_id)),
        )


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "matched_paths": json.loads(row["matched_paths"])}


def list_runs(
    db: Reader, trigger_id: str, *, after: str = "", amount: int = 100
) -> list[dict[str, Any]]:
    """A page of the trigger's runs, newest first; `after` is the last run id of the
    previous page (keyset on (created_at, id))."""
    where, params = "trigger_id = ?", [trigger_id]
    if after:
        where += (
            " AND (created_at < (SELECT created_at FROM sandbox_trigger_runs WHERE id = ?)"
            " OR (created_at = (SELECT created_at FROM sandbox_trigger_runs WHERE id = ?)"
            " AND id < ?))"
        )
        params += [after, after, after]
    rows = db.query(
        f"SELECT * FROM sandbox_trigger_runs WHERE {where} ORDER BY created_at DESC, id DESC"
        " LIMIT ?",
        (*params, amount),
    )
    return [_decode(r) for r in rows]


def run_of_sandbox(db: Reader, sandbox_id: str) -> dict[str, Any] | None:
    return db.query_one(
        "SELECT trigger_id, depth FROM sandbox_trigger_runs WHERE sandbox_id = ?", (sandbox_id,)
    )
