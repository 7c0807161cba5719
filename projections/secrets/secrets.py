"""SecretsView: each secret's metadata (never its value or ciphertext)."""

from __future__ import annotations

from typing import Any

from domain.secrets.secret import Secret
from domain.shared.values import iso
from projections.base import Cursor, Reader, View, on


class SecretsView(View):
    """One row per (organization, repository or agent, key); deleted rows stay, flagged."""

    name = "secrets"
    follows = {"secrets": (Secret.Created, Secret.Updated, Secret.Recreated, Secret.Deleted)}
    tables = ("secrets",)

    def create_statements(self, dialect: str) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS secrets ("
            " id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, scope TEXT NOT NULL,"
            " scope_id TEXT NOT NULL, key TEXT NOT NULL, created_by_type TEXT NOT NULL,"
            " created_by TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
            " deleted BOOLEAN NOT NULL)",
            "CREATE INDEX IF NOT EXISTS secrets_scope ON secrets (scope, scope_id, key)",
        ]

    @on(Secret.Created)
    def _created(self, cur: Cursor, e: Secret.Created) -> None:
        at = iso(e.timestamp)
        cur.execute(
            "INSERT INTO secrets (id, organization_id, scope, scope_id, key, created_by_type,"
            " created_by, created_at, updated_at, deleted) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                str(e.originator_id),
                e.organization_id,
                e.scope,
                e.scope_id,
                e.key,
                e.actor_type,
                e.actor_id,
                at,
                at,
                False,
            ),
        )

    @on(Secret.Updated)
    def _updated(self, cur: Cursor, e: Secret.Updated) -> None:
        cur.execute(
            "UPDATE secrets SET updated_at = ? WHERE id = ?",
            (iso(e.timestamp), str(e.originator_id)),
        )

    @on(Secret.Recreated)
    def _recreated(self, cur: Cursor, e: Secret.Recreated) -> None:
        at = iso(e.timestamp)
        cur.execute(
            "UPDATE secrets SET created_by_type = ?, created_by = ?, created_at = ?,"
            " updated_at = ?, deleted = ? WHERE id = ?",
            (e.actor_type, e.actor_id, at, at, False, str(e.originator_id)),
        )

    @on(Secret.Deleted)
    def _deleted(self, cur: Cursor, e: Secret.Deleted) -> None:
        cur.execute(
            "UPDATE secrets SET deleted = ?, updated_at = ? WHERE id = ?",
            (True, iso(e.timestamp), str(e.originator_id)),
        )


def list_secrets(db: Reader, org_id: str, scope: str, scope_id: str) -> list[dict[str, Any]]:
    """The live secrets of one repository or agent, by key (metadata only)."""
    return db.query(
        "SELECT key, created_by_type, created_by, created_at, updated_at FROM secrets"
        " WHERE scope = ? AND scope_id = ? AND organization_id = ? AND deleted = ?"
        " ORDER BY key",
        (scope, scope_id, org_id, False),
    )


def secret_keys(db: Reader, org_id: str, scope: str, scope_id: str) -> list[str]:
    return [r["key"] for r in list_secrets(db, org_id, scope, scope_id)]
