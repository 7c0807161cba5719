"""ApiKeysView: every API key's public fields, listed per owner."""

from __future__ import annotations

from collections.abc import Sequence
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
        cur.insert_many("api_keys", _COLUMNS, [_new_row(e)])

    @on(ApiKey.Used)
    def _used(self, cur: Cursor, e: ApiKey.Used) -> None:
        cur.execute(_SET_USED, (iso(e.timestamp), str(e.originator_id)))

    @on(ApiKey.Revoked)
    def _revoked(self, cur: Cursor, e: ApiKey.Revoked) -> None:
        cur.execute(_SET_REVOKED, (iso(e.timestamp), str(e.originator_id)))

    def apply_all(self, cur: Cursor, events: Sequence[Any]) -> None:
        """A batch folded in memory first: a key created in the batch is inserted once with
        its last use and revocation as the batch left them (a key's `Used` events are most
        of a busy log); a key created earlier gets one update per column, the batch's last
        value (each event overwrites the column, so the last one in log order wins)."""
        created: dict[str, list[Any]] = {}
        used: dict[str, str | None] = {}
        revoked: dict[str, str | None] = {}
        for e in events:
            kind = type(e)
            key = str(e.originator_id)
            if kind is ApiKey.Created:
                created[key] = _new_row(e)
            elif kind is ApiKey.Used or kind is ApiKey.Revoked:
                row = created.get(key)
                column = _LAST_USED if kind is ApiKey.Used else _REVOKED
                if row is not None:
                    row[column] = iso(e.timestamp)
                else:
                    (used if kind is ApiKey.Used else revoked)[key] = iso(e.timestamp)
        if created:
            cur.insert_many("api_keys", _COLUMNS, list(created.values()))
        if used:
            cur.executemany(_SET_USED, [(at, key) for key, at in used.items()])
        if revoked:
            cur.executemany(_SET_REVOKED, [(at, key) for key, at in revoked.items()])


_COLUMNS = (
    "id", "owner_type", "owner_id", "organization_id", "name", "description", "token_hint",
    "created_by_type", "created_by", "created_at", "last_used_at", "revoked_at",
)  # fmt: skip
_LAST_USED, _REVOKED = 10, 11  # positions in `_new_row`
_SET_USED = "UPDATE api_keys SET last_used_at = ? WHERE id = ?"
_SET_REVOKED = "UPDATE api_keys SET revoked_at = ? WHERE id = ?"


def _new_row(e: ApiKey.Created) -> list[Any]:
    return [
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
        None,
        None,
    ]


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
