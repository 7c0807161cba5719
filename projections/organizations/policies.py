"""PoliciesView: policies and their attachments."""

from __future__ import annotations

from typing import Any

from domain.organizations.policy import Policy
from domain.shared.values import iso
from projections.base import Cursor, Reader, View, on


class PoliciesView(View):
    """One row per policy and one per (policy, principal) attachment."""

    name = "policies"
    follows = {
        "organizations": (
            Policy.Created,
            Policy.Updated,
            Policy.Attached,
            Policy.Detached,
            Policy.Deleted,
        )
    }
    tables = ("policies", "policy_attachments")

    def create_statements(self, dialect: str) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS policies ("
            " id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, name TEXT NOT NULL,"
            " description TEXT NOT NULL, policy_text TEXT NOT NULL, is_builtin BOOLEAN NOT NULL,"
            " created_by_type TEXT NOT NULL, created_by TEXT NOT NULL, created_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL, deleted BOOLEAN NOT NULL)",
            "CREATE INDEX IF NOT EXISTS policies_org ON policies (organization_id, name)",
            "CREATE TABLE IF NOT EXISTS policy_attachments ("
            " policy_id TEXT NOT NULL, organization_id TEXT NOT NULL,"
            " principal_type TEXT NOT NULL, principal_id TEXT NOT NULL,"
            " attached_by_type TEXT NOT NULL, attached_by TEXT NOT NULL,"
            " attached_at TEXT NOT NULL, PRIMARY KEY (policy_id, principal_type, principal_id))",
            "CREATE INDEX IF NOT EXISTS policy_attachments_org"
            " ON policy_attachments (organization_id)",
        ]

    @on(Policy.Created)
    def _created(self, cur: Cursor, e: Policy.Created) -> None:
        at = iso(e.timestamp)
        cur.execute(
            "INSERT INTO policies (id, organization_id, name, description, policy_text,"
            " is_builtin, created_by_type, created_by, created_at, updated_at, deleted)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                str(e.originator_id),
                e.organization_id,
                e.name,
                e.description,
                e.text,
                e.is_builtin,
                e.actor_type,
                e.actor_id,
                at,
                at,
                False,
            ),
        )

    @on(Policy.Updated)
    def _updated(self, cur: Cursor, e: Policy.Updated) -> None:
        cur.execute(
            "UPDATE policies SET name = ?, description = ?, policy_text = ?,"
            " updated_at = ? WHERE id = ?",
            (e.name, e.description, e.text, iso(e.timestamp), str(e.originator_id)),
        )

    @on(Policy.Attached)
    def _attached(self, cur: Cursor, e: Policy.Attached) -> None:
        cur.execute(
            "INSERT INTO policy_attachments (policy_id, organization_id, principal_type,"
            " principal_id, attached_by_type, attached_by, attached_at)"
            " VALUES (?,?,?,?,?,?,?)",
            (
                str(e.originator_id),
                e.organization_id,
                e.principal_type,
                e.principal_id,
                e.actor_type,
                e.actor_id,
                iso(e.timestamp),
            ),
        )

    @on(Policy.Detached)
    def _detached(self, cur: Cursor, e: Policy.Detached) -> None:
        cur.execute(
            "DELETE FROM policy_attachments WHERE policy_id = ? AND principal_type = ?"
            " AND principal_id = ?",
            (str(e.originator_id), e.principal_type, e.principal_id),
        )

    @on(Policy.Deleted)
    def _deleted(self, cur: Cursor, e: Policy.Deleted) -> None:
        cur.execute(
            "UPDATE policies SET deleted = ?, updated_at = ? WHERE id = ?",
            (True, iso(e.timestamp), str(e.originator_id)),
        )
        cur.execute("DELETE FROM policy_attachments WHERE policy_id = ?", (str(e.originator_id),))


def _policy(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (bool(v) if k == "is_builtin" else v) for k, v in row.items() if k != "deleted"}


def list_policies(
    db: Reader, org_id: str, *, after: str = "", amount: int = 100
) -> list[dict[str, Any]]:
    """Policy summaries (no text) with their attachment counts, by name."""
    rows = db.query(
        "SELECT p.id, p.organization_id, p.name, p.description, p.is_builtin, p.created_at,"
        " p.updated_at, (SELECT COUNT(*) FROM policy_attachments a WHERE a.policy_id = p.id)"
        " AS attachment_count FROM policies p WHERE p.organization_id = ? AND p.deleted = ?"
        " AND p.name > ? ORDER BY p.name LIMIT ?",
        (org_id, False, after, amount),
    )
    return [_policy(r) for r in rows]


def get_policy(db: Reader, org_id: str, policy_id: str) -> dict[str, Any] | None:
    row = db.query_one(
        "SELECT * FROM policies WHERE organization_id = ? AND id = ? AND deleted = ?",
        (org_id, policy_id, False),
    )
    return _policy(row) if row else None


def attachments(db: Reader, org_id: str, policy_id: str | None = None) -> list[dict[str, Any]]:
    """AttachmentRecords with policy and principal names."""
    sql = (
        "SELECT a.policy_id, p.name AS policy_name, p.is_builtin, a.principal_type,"
        " a.principal_id, COALESCE(u.username, g.name, r.name, ag.name, '')"
        " AS principal_name, a.attached_by_type, a.attached_by, a.attached_at"
        " FROM policy_attachments a JOIN policies p ON p.id = a.policy_id"
        " LEFT JOIN users u ON a.principal_type = 'user' AND u.id = a.principal_id"
        " LEFT JOIN org_groups g ON a.principal_type = 'group' AND g.id = a.principal_id"
        " LEFT JOIN roles r ON a.principal_type = 'role' AND r.id = a.principal_id"
        " LEFT JOIN agents ag ON a.principal_type = 'agent' AND ag.id = a.principal_id"
        " WHERE a.organization_id = ?"
    )
    params: list[Any] = [org_id]
    if policy_id is not None:
        sql += " AND a.policy_id = ?"
        params.append(policy_id)
    rows = db.query(sql + " ORDER BY p.name, a.attached_at, a.principal_id", params)
    return [{**r, "is_builtin": bool(r["is_builtin"])} for r in rows]
