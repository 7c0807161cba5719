"""GroupsView: groups and their direct members."""

from __future__ import annotations

from typing import Any

from domain.organizations.group import Group
from domain.shared.values import iso
from projections.base import Cursor, Reader, View, on


class GroupsView(View):
    """One row per group and one per (group, subject) membership."""

    name = "groups"
    follows = {
        "organizations": (
            Group.Created,
            Group.Updated,
            Group.MemberAdded,
            Group.MemberRemoved,
            Group.Deleted,
        )
    }
    tables = ("org_groups", "group_members")

    def create_statements(self, dialect: str) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS org_groups ("
            " id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, name TEXT NOT NULL,"
            " description TEXT NOT NULL, created_by_type TEXT NOT NULL,"
            " created_by TEXT NOT NULL, created_at TEXT NOT NULL, deleted BOOLEAN NOT NULL)",
            "CREATE INDEX IF NOT EXISTS org_groups_org ON org_groups (organization_id, name)",
            "CREATE TABLE IF NOT EXISTS group_members ("
            " group_id TEXT NOT NULL, organization_id TEXT NOT NULL, subject_type TEXT NOT NULL,"
            " subject_id TEXT NOT NULL, added_at TEXT NOT NULL,"
            " PRIMARY KEY (group_id, subject_type, subject_id))",
            "CREATE INDEX IF NOT EXISTS group_members_org ON group_members (organization_id)",
        ]

    @on(Group.Created)
    def _created(self, cur: Cursor, e: Group.Created) -> None:
        cur.execute(
            "INSERT INTO org_groups (id, organization_id, name, description,"
            " created_by_type, created_by, created_at, deleted) VALUES (?,?,?,?,?,?,?,?)",
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

    @on(Group.Updated)
    def _updated(self, cur: Cursor, e: Group.Updated) -> None:
        cur.execute(
            "UPDATE org_groups SET name = ?, description = ? WHERE id = ?",
            (e.name, e.description, str(e.originator_id)),
        )

    @on(Group.MemberAdded)
    def _added(self, cur: Cursor, e: Group.MemberAdded) -> None:
        cur.execute(
            "INSERT INTO group_members (group_id, organization_id, subject_type,"
            " subject_id, added_at) VALUES (?,?,?,?,?)",
            (
                str(e.originator_id),
                e.organization_id,
                e.subject_type,
                e.subject_id,
                iso(e.timestamp),
            ),
        )

    @on(Group.MemberRemoved)
    def _removed(self, cur: Cursor, e: Group.MemberRemoved) -> None:
        cur.execute(
            "DELETE FROM group_members WHERE group_id = ? AND subject_type = ? AND subject_id = ?",
            (str(e.originator_id), e.subject_type, e.subject_id),
        )

    @on(Group.Deleted)
    def _deleted(self, cur: Cursor, e: Group.Deleted) -> None:
        cur.execute("UPDATE org_groups SET deleted = ? WHERE id = ?", (True, str(e.originator_id)))
        cur.execute("DELETE FROM group_members WHERE group_id = ?", (str(e.originator_id),))


GROUP_COLUMNS = "id, organization_id, name, description, created_by_type, created_by, created_at"


def list_groups(
    db: Reader, org_id: str, *, after: str = "", amount: int = 100
) -> list[dict[str, Any]]:
    return db.query(
        f"SELECT {GROUP_COLUMNS} FROM org_groups WHERE organization_id = ?"
        " AND deleted = ? AND name > ? ORDER BY name LIMIT ?",
        (org_id, False, after, amount),
    )


def get_group(db: Reader, org_id: str, group_id: str) -> dict[str, Any] | None:
    return db.query_one(
        f"SELECT {GROUP_COLUMNS} FROM org_groups WHERE organization_id = ?"
        " AND id = ? AND deleted = ?",
        (org_id, group_id, False),
    )


def group_members(db: Reader, group_id: str) -> list[dict[str, Any]]:
    """Direct members with display names (users, groups, roles, agents)."""
    return db.query(
        "SELECT m.subject_type, m.subject_id, m.added_at,"
        " COALESCE(u.full_name, g.name, r.name, a.name, '') AS display_name,"
        " COALESCE(u.username, '') AS username"
        " FROM group_members m"
        " LEFT JOIN users u ON m.subject_type = 'user' AND u.id = m.subject_id"
        " LEFT JOIN org_groups g ON m.subject_type = 'group' AND g.id = m.subject_id"
        " LEFT JOIN roles r ON m.subject_type = 'role' AND r.id = m.subject_id"
        " LEFT JOIN agents a ON m.subject_type = 'agent' AND a.id = m.subject_id"
        " WHERE m.group_id = ? ORDER BY m.added_at, m.subject_type, m.subject_id",
        (group_id,),
    )
