"""SqlAuthzSource: builds authorization snapshots from the organization read models."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from application.authz import AgentInfo, OrgSnapshot, PolicyInfo
from application.principal import Principal
from domain.organizations.policy_language import compile_policy
from domain.shared.ids import parse_uuid
from projections.base import Reader
from projections.organizations.organizations import egress_default

# The views a snapshot reads: `catch_up` brings them to the organizations log's head.
AUTHZ_VIEWS = ("organizations", "groups", "policies", "principals")


class SqlAuthzSource:
    """AuthzSource over the read-model tables; `fold` (set by the composition root) brings
    them up to the log head when their projector lags."""

    def __init__(self, db: Reader, fold: Callable[[], None] | None = None) -> None:
        self.db = db
        self.fold = fold or (lambda: None)

    def catch_up(self) -> None:
        self.fold()

    def load(self, org: str) -> OrgSnapshot | None:
        # By id when `org` is one, else by name: names never read as ids (check_org_name),
        # so a string never picks between two organizations.
        as_id = parse_uuid(org)
        row = self.db.query_one(
            "SELECT id, name, display_name FROM organizations"
            f" WHERE {'id' if as_id else 'name'} = ? AND deleted = ?",
            (str(as_id) if as_id else org, False),
        )
        if row is None:
            return None
        org_id = row["id"]
        q = self.db.query
        members = {
            r["user_id"]: r["joined_at"]
            for r in q(
                "SELECT user_id, joined_at FROM org_members WHERE organization_id = ?", (org_id,)
            )
        }
        roles = {
            r["id"]: r["name"]
            for r in q(
                "SELECT id, name FROM roles WHERE organization_id = ? AND deleted = ?",
                (org_id, False),
            )
        }
        agents = {
            r["id"]: AgentInfo(
                r["id"], r["name"], r["created_by_type"], r["created_by"], r["inline_policy"]
            )
            for r in q(
                "SELECT id, name, created_by_type, created_by, inline_policy FROM agents"
                " WHERE organization_id = ? AND deleted = ?",
                (org_id, False),
            )
        }
        groups = {
            r["id"]: (r["name"], r["description"])
            for r in q(
                "SELECT id, name, description FROM org_groups WHERE organization_id = ?"
                " AND deleted = ?",
                (org_id, False),
            )
        }
        memberships: dict[str, list[str]] = defaultdict(list)
        for r in q(
            "SELECT group_id, subject_type, subject_id FROM group_members"
            " WHERE organization_id = ? ORDER BY group_id",
            (org_id,),
        ):
            memberships[f"{r['subject_type']}:{r['subject_id']}"].append(r["group_id"])
        attachments: dict[str, list[str]] = defaultdict(list)
        for r in q(
            "SELECT policy_id, principal_type, principal_id FROM policy_attachments"
            " WHERE organization_id = ? ORDER BY policy_id",
            (org_id,),
        ):
            attachments[f"{r['principal_type']}:{r['principal_id']}"].append(r["policy_id"])
        policies = {
            r["id"]: PolicyInfo(
                r["id"], r["name"], bool(r["is_builtin"]), compile_policy(r["policy_text"])
            )
            for r in q(
                "SELECT id, name, is_builtin, policy_text FROM policies WHERE organization_id = ?"
                " AND deleted = ?",
                (org_id, False),
            )
        }
        return OrgSnapshot(
            org_id=org_id,
            name=row["name"],
            display_name=row["display_name"],
            members=members,
            roles=roles,
            agents=agents,
            groups=groups,
            memberships=dict(memberships),
            attachments=dict(attachments),
            policies=policies,
            egress_default_allow=egress_default(self.db, org_id) == "allow",
        )

    def organizations_of(self, principal: Principal) -> list[str]:
        if principal.type == "user":
            rows = self.db.query(
                "SELECT o.name FROM organizations o JOIN org_members m"
                " ON m.organization_id = o.id WHERE m.user_id = ?"
                " AND o.deleted = ? ORDER BY o.name",
                (principal.id, False),
            )
        else:
            rows = self.db.query(
                "SELECT name FROM organizations WHERE id = ? AND deleted = ?",
                (principal.organization_id, False),
            )
        return [r["name"] for r in rows]
