"""TriggersView: one row per live sandbox trigger (what the API lists and evaluation reads)."""

from __future__ import annotations

import json
from typing import Any

from domain.shared.values import iso
from domain.triggers.trigger import Trigger
from projections.base import Cursor, Reader, View, on

JSON_COLUMNS = ("conditions", "sandbox_config", "run_as")


class TriggersView(View):
    """Live triggers by repository and name; deleted ones leave."""

    name = "sandbox_triggers"
    follows = {"triggers": (Trigger.Created, Trigger.Updated, Trigger.Toggled, Trigger.Deleted)}
    tables = ("sandbox_triggers",)

    def create_statements(self, dialect: str) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS sandbox_triggers (id TEXT PRIMARY KEY,"
            " organization_id TEXT NOT NULL, repository_id TEXT NOT NULL,"
            " repository_name TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL,"
            " enabled BOOLEAN NOT NULL, enabled_at TEXT NOT NULL, conditions TEXT NOT NULL,"
            " sandbox_config TEXT NOT NULL, run_as TEXT NOT NULL, created_by_type TEXT NOT NULL,"
            " created_by TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
            "CREATE UNIQUE INDEX IF NOT EXISTS sandbox_triggers_name"
            " ON sandbox_triggers (repository_id, name)",
        ]

    @on(Trigger.Created)
    def _created(self, cur: Cursor, e: Trigger.Created) -> None:
        at = iso(e.timestamp)
        cur.execute(
            "INSERT INTO sandbox_triggers (id, organization_id, repository_id, repository_name,"
            " name, description, enabled, enabled_at, conditions, sandbox_config, run_as,"
            " created_by_type, created_by, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (str(e.originator_id), e.organization_id, e.repository_id, e.repository_name,
             e.name, e.description, e.enabled, at, json.dumps(e.conditions),
             json.dumps(e.sandbox_config, sort_keys=True), json.dumps(e.run_as), e.actor_type,
             e.actor_id, at, at),
        )  # fmt: skip

    @on(Trigger.Updated)
    def _updated(self, cur: Cursor, e: Trigger.Updated) -> None:
        cur.execute(
            "UPDATE sandbox_triggers SET name = ?, description = ?, conditions = ?,"
            " sandbox_config = ?, run_as = ?, updated_at = ? WHERE id = ?",
            (e.name, e.description, json.dumps(e.conditions),
             json.dumps(e.sandbox_config, sort_keys=True), json.dumps(e.run_as),
             iso(e.timestamp), str(e.originator_id)),
        )  # fmt: skip

    @on(Trigger.Toggled)
    def _toggled(self, cur: Cursor, e: Trigger.Toggled) -> None:
        at = iso(e.timestamp)
        if e.enabled:
            cur.execute(
                "UPDATE sandbox_triggers SET enabled = ?, enabled_at = ?, updated_at = ?"
                " WHERE id = ?",
                (True, at, at, str(e.originator_id)),
            )
        else:
            cur.execute(
                "UPDATE sandbox_triggers SET enabled = ?, updated_at = ? WHERE id = ?",
                (False, at, str(e.originator_id)),
            )

    @on(Trigger.Deleted)
    def _deleted(self, cur: Cursor, e: Trigger.Deleted) -> None:
        cur.execute("DELETE FROM sandbox_triggers WHERE id = ?", (str(e.originator_id),))


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for column in JSON_COLUMNS:
        out[column] = json.loads(row[column])
    out["enabled"] = bool(row["enabled"])
    return out


def list_triggers(
    db: Reader, repository_id: str, *, after: str = "", amount: int = 100
) -> list[dict[str, Any]]:
    """A page of the repository's triggers by name (keyset: names after `after`)."""
    rows = db.query(
        "SELECT * FROM sandbox_triggers WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?",
        (repository_id, after, amount),
    )
    return [_decode(r) for r in rows]


def get_trigger(db: Reader, repository_id: str, trigger_id: str) -> dict[str, Any] | None:
    row = db.query_one(
        "SELECT * FROM sandbox_triggers WHERE repository_id = ? AND id = ?",
        (repository_id, trigger_id),
    )
    return _decode(row) if row else None


def enabled_triggers(db: Reader, repository_id: str) -> list[dict[str, Any]]:
    rows = db.query(
        "SELECT * FROM sandbox_triggers WHERE repository_id = ? AND enabled = ? ORDER BY id",
        (repository_id, True),
    )
    return [_decode(r) for r in rows]
