"""RolesAndAgentsView: the organization's non-human identities."""

from __future__ import annotations

import json
from typing import Any

from domain.organizations.agent import Agent
from domain.organizations.role import Role
from domain.shared.values import iso
from projections.base import Cursor, Reader, View, on


class RolesAndAgentsView(View):
    """One row per role and one per agent (created_by names joined when reading)."""

    name = "principals"
    follows = {
        "organizations": (Role.Created, Role.Deleted, Agent.Created, Agent.Updated, Agent.Deleted)
    }
    tables = ("roles", "agents")

    def create_statements(self, dialect: str) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS roles ("
            " id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, name TEXT NOT NULL,"
            " description TEXT NOT NULL, created_by_type TEXT NOT NULL,"
            " created_by TEXT NOT NULL, created_at TEXT NOT NULL, deleted BOOLEAN NOT NULL)",
            "CREATE INDEX IF NOT EXISTS roles_org ON roles (organization_id, name)",
            "CREATE TABLE IF NOT EXISTS agents ("
            " id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, name TEXT NOT NULL,"
            " description TEXT NOT NULL, metadata TEXT NOT NULL, inline_policy TEXT NOT NULL,"
            " inline_policy_updated_at TEXT, created_by_type TEXT NOT NULL,"
            " created_by TEXT NOT NULL, created_at TEXT NOT NULL, deleted BOOLEAN NOT NULL)",
            "CREATE INDEX IF NOT EXISTS agents_org ON agents (organization_id, name)",
        ]

    @on(Role.Created)
    def _role(self, cur: Cursor, e: Role.Created) -> None:
        cur.execute(
            "INSERT INTO roles (id, organization_id, name, description, created_by_type,"
            " created_by, created_at, deleted) VALUES (?,?,?,?,?,?,?,?)",
            (
                str(e.originator_id),
                e.organization_id,
                e.name,
                e.description,
                e.actor_type,
                e.actor_id,
                iso(e.timestamp),
                False,
            ),
        )

    @on(Role.Deleted)
    def _role_deleted(self, cur: Cursor, e: Role.Deleted) -> None:
        cur.execute("UPDATE roles SET deleted = ? WHERE id = ?", (True, str(e.originator_id)))

    @on(Agent.Created)
    def _agent(self, cur: Cursor, e: Agent.Created) -> None:
        at = iso(e.timestamp)
        cur.execute(
            "INSERT INTO agents (id, organization_id, name, description, metadata,"
            " inline_policy, inline_policy_updated_at, created_by_type, created_by,"
            " created_at, deleted) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                str(e.originator_id),
                e.organization_id,
                e.name,
                e.description,
                json.dumps(e.metadata, sort_keys=True),
                e.inline_policy,
                at if e.inline_policy else None,
                e.actor_type,
                e.actor_id,
                at,
                False,
            ),
        )

    @on(Agent.Updated)
    def _agent_updated(self, cur: Cursor, e: Agent.Updated) -> None:
        cur.execute(
            "UPDATE agents SET description = ?, metadata = ?, inline_policy = ? WHERE id = ?",
            (
                e.description,
                json.dumps(e.metadata, sort_keys=True),
                e.inline_policy,
                str(e.originator_id),
            ),
        )
        if e.inline_policy_changed:
            cur.execute(
                "UPDATE agents SET inline_policy_updated_at = ? WHERE id = ?",
                (iso(e.timestamp), str(e.originator_id)),
            )

    @on(Agent.Deleted)
    def _agent_deleted(self, cur: Cursor, e: Agent.Deleted) -> None:
        cur.execute("UPDATE agents SET deleted = ? WHERE id = ?", (True, str(e.originator_id)))


_CREATOR = (
    "COALESCE(cu.username, cr.name, '') AS created_by_name, "
    "(SELECT MAX(k.last_used_at) FROM api_keys k WHERE k.owner_id = x.id) "
    "AS last_used_at"
)
_JOIN = (
    " LEFT JOIN users cu ON x.created_by_type = 'user' AND cu.id = x.created_by"
    " LEFT JOIN roles cr ON x.created_by_type = 'role' AND cr.id = x.created_by"
)


def list_roles(
    db: Reader, org_id: str, *, after: str = "", amount: int = 100, name: str | None = None
) -> list[dict[str, Any]]:
    sql = (
        f"SELECT x.id, x.organization_id, x.name, x.description, x.created_by_type,"
        f" x.created_by, x.created_at, {_CREATOR} FROM roles x{_JOIN}"
        " WHERE x.organization_id = ? AND x.deleted = ?"
    )
    params: list[Any] = [org_id, False]
    if name is not None:
        sql += " AND x.name = ?"
        params.append(name)
    return db.query(sql + " AND x.name > ? ORDER BY x.name LIMIT ?", (*params, after, amount))


def list_agents(
    db: Reader, org_id: str, *, after: str = "", amount: int = 100, name: str | None = None
) -> list[dict[str, Any]]:
    sql = (
        f"SELECT x.id, x.organization_id, x.name, x.description, x.metadata,"
        f" x.inline_policy, x.inline_policy_updated_at, x.created_by_type, x.created_by,"
        f" x.created_at, {_CREATOR} FROM agents x{_JOIN}"
        " WHERE x.organization_id = ? AND x.deleted = ?"
    )
    params: list[Any] = [org_id, False]
    if name is not None:
        sql += " AND x.name = ?"
        params.append(name)
    rows = db.query(sql + " AND x.name > ? ORDER BY x.name LIMIT ?", (*params, after, amount))
    return [{**r, "metadata": json.loads(r["metadata"])} for r in rows]
