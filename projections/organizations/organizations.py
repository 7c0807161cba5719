"""OrganizationsView: organizations and their members."""

from __future__ import annotations

from typing import Any

from domain.organizations.organization import Organization
from domain.shared.values import iso
from projections.base import Cursor, Reader, View, on


class OrganizationsView(View):
    """One row per organization and one per membership."""

    name = "organizations"
    version = 2  # 2: org_network_settings
    follows = {
        "organizations": (
            Organization.Created,
            Organization.MemberAdded,
            Organization.MemberRemoved,
            Organization.Deleted,
            Organization.Restored,
            Organization.Purged,
            Organization.EgressDefaultSet,
        )
    }
    tables = ("organizations", "org_members", "org_network_settings")

    def create_statements(self, dialect: str) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS organizations ("
            " id TEXT PRIMARY KEY, name TEXT NOT NULL, display_name TEXT NOT NULL,"
            " created_by_type TEXT NOT NULL, created_by TEXT NOT NULL,"
            " created_at TEXT NOT NULL, deleted BOOLEAN NOT NULL)",
            "CREATE INDEX IF NOT EXISTS organizations_name ON organizations (name, deleted)",
            "CREATE TABLE IF NOT EXISTS org_members ("
            " organization_id TEXT NOT NULL, user_id TEXT NOT NULL, joined_at TEXT NOT NULL,"
            " via TEXT NOT NULL, PRIMARY KEY (organization_id, user_id))",
            "CREATE INDEX IF NOT EXISTS org_members_user ON org_members (user_id)",
            "CREATE TABLE IF NOT EXISTS org_network_settings ("
            " organization_id TEXT PRIMARY KEY, egress_default TEXT NOT NULL)",
        ]

    @on(Organization.EgressDefaultSet)
    def _egress_default(self, cur: Cursor, e: Organization.EgressDefaultSet) -> None:
        cur.execute(
            "INSERT INTO org_network_settings (organization_id, egress_default) VALUES (?, ?)"
            " ON CONFLICT (organization_id) DO UPDATE SET egress_default = excluded.egress_default",
            (e.organization_id, e.egress_default),
        )

    @on(Organization.Created)
    def _created(self, cur: Cursor, e: Organization.Created) -> None:
        cur.execute(
            "INSERT INTO organizations (id, name, display_name, created_by_type,"
            " created_by, created_at, deleted) VALUES (?,?,?,?,?,?,?)",
            (
                str(e.originator_id),
                e.name,
                e.display_name,
                e.actor_type,
                e.actor_id,
                iso(e.timestamp),
                False,
            ),
        )

    @on(Organization.MemberAdded)
    def _joined(self, cur: Cursor, e: Organization.MemberAdded) -> None:
        cur.execute(
            "INSERT INTO org_members (organization_id, user_id, joined_at, via) VALUES (?,?,?,?)",
            (e.organization_id, e.user_id, iso(e.timestamp), e.via),
        )

    @on(Organization.MemberRemoved)
    def _left(self, cur: Cursor, e: Organization.MemberRemoved) -> None:
        cur.execute(
            "DELETE FROM org_members WHERE organization_id = ? AND user_id = ?",
            (e.organization_id, e.user_id),
        )

    @on(Organization.Deleted)
    def _deleted(self, cur: Cursor, e: Organization.Deleted) -> None:
        cur.execute("UPDATE organizations SET deleted = ? WHERE id = ?", (True, e.organization_id))

    @on(Organization.Restored)
    def _restored(self, cur: Cursor, e: Organization.Restored) -> None:
        cur.execute("UPDATE organizations SET deleted = ? WHERE id = ?", (False, e.organization_id))

    @on(Organization.Purged)
    def _purged(self, cur: Cursor, e: Organization.Purged) -> None:
        # Gone for good: the name may name another organization now.
        cur.execute("DELETE FROM org_members WHERE organization_id = ?", (e.organization_id,))
        cur.execute(
            "DELETE FROM org_network_settings WHERE organization_id = ?", (e.organization_id,)
        )
        cur.execute("DELETE FROM organizations WHERE id = ?", (e.organization_id,))


def _org(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "display_name": row["display_name"],
        "status": "active",
        "notes": None,
        "created_at": row["created_at"],
    }


def get_org(db: Reader, org_id: str) -> dict[str, Any] | None:
    row = db.query_one("SELECT * FROM organizations WHERE id = ? AND deleted = ?", (org_id, False))
    return _org(row) if row else None


def orgs_of_user(db: Reader, user_id: str) -> list[dict[str, Any]]:
    rows = db.query(
        "SELECT o.* FROM organizations o JOIN org_members m"
        " ON m.organization_id = o.id WHERE m.user_id = ? AND o.deleted = ?"
        " ORDER BY o.name",
        (user_id, False),
    )
    return [_org(r) for r in rows]


def list_members(db: Reader, org_id: str) -> list[dict[str, Any]]:
    """Members with their user details (joined from the users view)."""
    return db.query(
        "SELECT m.organization_id, m.user_id, m.joined_at, u.username, u.full_name, u.email"
        " FROM org_members m LEFT JOIN users u ON u.id = m.user_id"
        " WHERE m.organization_id = ? ORDER BY u.username, m.user_id",
        (org_id,),
    )


def deleted_organizations(db: Reader) -> list[dict[str, Any]]:
    """Deleted organizations not yet purged (restorable), by name."""
    return db.query(
        "SELECT id, name, display_name FROM organizations WHERE deleted = ? ORDER BY name, id",
        (True,),
    )


def live_organizations(db: Reader) -> list[dict[str, Any]]:
    return [
        _org(r)
        for r in db.query("SELECT * FROM organizations WHERE deleted = ? ORDER BY name", (False,))
    ]


def egress_default(db: Reader, org_id: str) -> str:
    """ "allow" or "deny" (docs/policies.md, network policies)."""
    row = db.query_one(
        "SELECT egress_default FROM org_network_settings WHERE organization_id = ?", (org_id,)
    )
    return str(row["egress_default"]) if row else "allow"
