"""ApiKeysView: every API key's public fields, listed per owner."""

from __future__ import annotations

from typing import Any

from domain.identity.api_key import ApiKey
from domain.shared.values import iso
from projections.base import Cursor, Reader, View, on


class ApiKeysView(View):
    """One row per key: owner, name, hint, creation, last use, revocation."""

    name = "api_keys"
    follows = {"identity": (ApiKey.Created, ApiKey.Used, ApiKey.Revoked)}
    tables = ("api_keys",)

    def create_statements(self, dialect: str) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS api_keys ("
            " id TEXT PRIMARY KEY, owner_type TEXT NOT NULL, owner_id TEXT NOT NULL,"
            " organization_id TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL,"
            " token_hint TEXT NOT NULL, created_by_type TEXT NOT NULL, created_by TEXT NOT NULL,"
            " created_at TEXT NOT NULL, last_used_at TEXT, revoked_at TEXT)",
            "CREATE INDEX IF NOT EXISTS api_keys_owner ON api_keys"
            " (owner_type, owner_id, created_at, id)",
        ]

    @on(ApiKey.Created)
    def _created(self, cur: Cursor, e: ApiKey.Created) -> None:
        cur.execute(
            "INSERT INTO api_keys (id, owner_type, owner_id, organization_id, name, description,"
            " token_hint, created_by_type, created_by, created_at, last_used_at, revoked_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,NULL,NULL)",
            (
                str(e.originator_id),
                e.owner_type,
                e.owner_id,
                e.organization_id,
                e.name,
                e.description,
                e.token_hint,
                e.actor_type,
                e.actor_id,
                iso(e.timestamp),
            ),
        )

    @on(ApiKey.Used)
    def _used(self, cur: Cursor, e: ApiKey.Used) -> None:
        cur.execute(
            "UPDATE api_keys SET last_used_at = ? WHERE id = ?",
            (iso(e.timestamp), str(e.originator_id)),
        )

    @on(ApiKey.Revoked)
    def _revoked(self, cur: Cursor, e: ApiKey.Revoked) -> None:
        cur.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ?",
            (iso(e.timestamp), str(e.originator_id)),
        )


def list_keys(
    db: Reader, owner_type: str, owner_id: str, *, include_revoked: bool = True
) -> list[dict[str, Any]]:
    """An owner's keys, oldest first."""
    sql = "SELECT * FROM api_keys WHERE owner_type = ? AND owner_id = ?"
    if not include_revoked:
        sql += " AND revoked_at IS NULL"
    return db.query(sql + " ORDER BY created_at, id", (owner_type, owner_id))


def get_key(db: Reader, key_id: str) -> dict[str, Any] | None:
    return db.query_one("SELECT * FROM api_keys WHERE id = ?", (key_id,))
