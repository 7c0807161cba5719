"""ConnectorsView: connectors (never their configs) and their repository attachments."""

from __future__ import annotations

from typing import Any

from domain.connectors.connector import Connector
from domain.shared.values import iso
from projections.base import Cursor, Reader, View, on

COLUMNS = "c.id, c.name, c.type, c.source_uri, c.created_at"


class ConnectorsView(View):
    """One row per connector and one per (connector, repository) attachment."""

    name = "connectors"
    follows = {
        "connectors": (
            Connector.Created,
            Connector.Deleted,
            Connector.Attached,
            Connector.Detached,
        )
    }
    tables = ("connectors", "connector_attachments")

    def create_statements(self, dialect: str) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS connectors ("
            " id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, name TEXT NOT NULL,"
            " type TEXT NOT NULL, source_uri TEXT NOT NULL, created_by_type TEXT NOT NULL,"
            " created_by TEXT NOT NULL, created_at TEXT NOT NULL, deleted BOOLEAN NOT NULL)",
            "CREATE INDEX IF NOT EXISTS connectors_org ON connectors (organization_id, name)",
            "CREATE TABLE IF NOT EXISTS connector_attachments ("
            " connector_id TEXT NOT NULL, repository_id TEXT NOT NULL,"
            " organization_id TEXT NOT NULL, attached_by_type TEXT NOT NULL,"
            " attached_by TEXT NOT NULL, attached_at TEXT NOT NULL,"
            " PRIMARY KEY (repository_id, connector_id))",
        ]

    @on(Connector.Created)
    def _created(self, cur: Cursor, e: Connector.Created) -> None:
        cur.execute(
            "INSERT INTO connectors (id, organization_id, name, type, source_uri,"
            " created_by_type, created_by, created_at, deleted) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                str(e.originator_id),
                e.organization_id,
                e.name,
                e.type,
                e.source_uri,
                e.actor_type,
                e.actor_id,
                iso(e.timestamp),
                False,
            ),
        )

    @on(Connector.Deleted)
    def _deleted(self, cur: Cursor, e: Connector.Deleted) -> None:
        cur.execute("UPDATE connectors SET deleted = ? WHERE id = ?", (True, str(e.originator_id)))

    @on(Connector.Attached)
    def _attached(self, cur: Cursor, e: Connector.Attached) -> None:
        cur.execute(
            "INSERT INTO connector_attachments (connector_id, repository_id, organization_id,"
            " attached_by_type, attached_by, attached_at) VALUES (?,?,?,?,?,?)",
            (
                str(e.originator_id),
                e.repository_id,
                e.organization_id,
                e.actor_type,
                e.actor_id,
                iso(e.timestamp),
            ),
        )

    @on(Connector.Detached)
    def _detached(self, cur: Cursor, e: Connector.Detached) -> None:
        cur.execute(
            "DELETE FROM connector_attachments WHERE connector_id = ? AND repository_id = ?",
            (str(e.originator_id), e.repository_id),
        )


def connector_info(row: dict[str, Any]) -> dict[str, Any]:
    """The spec's ConnectorInfo (s3 and gcs: the source is its own display; no deploy key)."""
    return {
        **row,
        "display_source": row["source_uri"],
        "disabled": False,
        "public_key": None,
    }


def list_connectors(db: Reader, org_id: str) -> list[dict[str, Any]]:
    """The organization's live connectors, by name."""
    rows = db.query(
        f"SELECT {COLUMNS} FROM connectors c WHERE c.organization_id = ? AND c.deleted = ?"
        " ORDER BY c.name, c.id",
        (org_id, False),
    )
    return [connector_info(r) for r in rows]


def get_connector(db: Reader, org_id: str, connector_id: str) -> dict[str, Any] | None:
    row = db.query_one(
        f"SELECT {COLUMNS} FROM connectors c WHERE c.organization_id = ? AND c.id = ?"
        " AND c.deleted = ?",
        (org_id, connector_id, False),
    )
    return connector_info(row) if row else None


def repository_connectors(db: Reader, org_id: str, repository_id: str) -> list[dict[str, Any]]:
    """The live connectors attached to a repository, by name."""
    rows = db.query(
        f"SELECT {COLUMNS} FROM connector_attachments a JOIN connectors c"
        " ON c.id = a.connector_id WHERE a.repository_id = ? AND c.organization_id = ?"
        " AND c.deleted = ? ORDER BY c.name, c.id",
        (repository_id, org_id, False),
    )
    return [connector_info(r) for r in rows]
