"""RepositoriesView: repositories and their settings, for listings."""

from __future__ import annotations

import json
from typing import Any

from domain.catalog.repository import Repository
from domain.shared.values import stamp
from projections.base import Cursor, Reader, View, on

KNOWN = (
    "description",
    "visibility",
    "retention_days",
    "session_max_duration_days",
    "agents_require_approval",
)


class RepositoriesView(View):
    """One row per repository; unknown settings are kept in `extra`."""

    name = "repositories"
    follows = {
        "catalog": (
            Repository.Created,
            Repository.Updated,
            Repository.Deleted,
            Repository.Restored,
        )
    }
    tables = ("repositories",)

    def create_statements(self, dialect: str) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS repositories (id TEXT PRIMARY KEY,"
            " organization_id TEXT NOT NULL, name TEXT NOT NULL, settings TEXT NOT NULL,"
            " created_by_type TEXT NOT NULL, created_by TEXT NOT NULL,"
            " created_at TEXT NOT NULL, deleted BOOLEAN NOT NULL)",
            "CREATE INDEX IF NOT EXISTS repositories_org ON repositories"
            " (organization_id, deleted, name)",
        ]

    @on(Repository.Created)
    def _created(self, cur: Cursor, e: Repository.Created) -> None:
        settings = {
            "description": "",
            "visibility": "private",
            "retention_days": 14,
            "session_max_duration_days": 7,
            "agents_require_approval": False,
            **e.settings,
        }
        cur.execute(
            "INSERT INTO repositories (id, organization_id, name, settings,"
            " created_by_type, created_by, created_at, deleted) VALUES (?,?,?,?,?,?,?,?)",
            (
                str(e.originator_id),
                e.organization_id,
                e.name,
                json.dumps(settings, sort_keys=True),
                e.actor_type,
                e.actor_id,
                stamp(e.timestamp),
                False,
            ),
        )

    @on(Repository.Updated)
    def _updated(self, cur: Cursor, e: Repository.Updated) -> None:
        row = cur.execute(
            "SELECT settings FROM repositories WHERE id = ?", (str(e.originator_id),)
        ).fetchone()
        settings = {**json.loads(row["settings"]), **e.settings} if row else e.settings
        cur.execute(
            "UPDATE repositories SET settings = ? WHERE id = ?",
            (json.dumps(settings, sort_keys=True), str(e.originator_id)),
        )

    @on(Repository.Deleted, Repository.Restored)
    def _deleted(self, cur: Cursor, e: Repository.Deleted) -> None:
        deleted = isinstance(e, Repository.Deleted)
        cur.execute(
            "UPDATE repositories SET deleted = ? WHERE id = ?", (deleted, str(e.originator_id))
        )


def repository_json(row: dict[str, Any]) -> dict[str, Any]:
    """The wire Repository: known fields, then any unknown fields clients sent."""
    settings = json.loads(row["settings"])
    out = {
        "id": row["id"],
        "organization_id": row["organization_id"],
        "name": row["name"],
        **{k: settings.get(k) for k in KNOWN},
        "created_by_type": row["created_by_type"],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
    }
    for key, value in settings.items():
        out.setdefault(key, value)
    return out


def list_repositories(
    db: Reader, org_ids: list[str], *, after: str = "", amount: int = 100
) -> list[dict[str, Any]]:
    """Repositories of the given organizations with their organization's name, by
    (organization name, repository name) — the keyset is `org/name`."""
    if not org_ids:
        return []
    marks = ",".join("?" * len(org_ids))
    # Compare (organization, name) as a pair, like the ORDER BY: comparing the joined string
    # instead skips organizations whose name extends another's ("acme" < "acme-labs", yet
    # "acme-labs/x" < "acme/y").
    org_after, _, name_after = after.partition("/")
    rows = db.query(
        "SELECT r.*, o.name AS organization_slug, o.display_name AS organization_display_name"
        " FROM repositories r JOIN organizations o ON o.id = r.organization_id"
        f" WHERE r.organization_id IN ({marks}) AND r.deleted = ?"
        " AND (o.name > ? OR (o.name = ? AND r.name > ?)) ORDER BY o.name, r.name LIMIT ?",
        (*org_ids, False, org_after, org_after, name_after, amount),
    )
    return [
        {
            **repository_json(r),
            "organization_slug": r["organization_slug"],
            "organization_display_name": r["organization_display_name"],
            "cursor": f"{r['organization_slug']}/{r['name']}",
        }
        for r in rows
    ]


def get_repository(db: Reader, repository_id: str) -> dict[str, Any] | None:
    row = db.query_one("SELECT * FROM repositories WHERE id = ?", (repository_id,))
    return repository_json(row) if row else None
