"""Shared state of the organizations Application: ports, lookups and built-in policies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol
from uuid import UUID

from application.authz import Authorizer, OrgSnapshot
from application.base import TildeApplication
from application.ports import TokenSigner
from application.principal import Principal
from domain.identity.user import User
from domain.organizations.agent import Agent
from domain.organizations.builtins import AGENT_MANAGER, BUILTINS, MEMBER, OWNER
from domain.organizations.group import Group, GroupGraph
from domain.organizations.invitation import Invitation
from domain.organizations.organization import Organization
from domain.organizations.policy import Policy
from domain.organizations.role import Role
from domain.shared.errors import Conflict, Forbidden, NotFound
from domain.shared.ids import derived_id, index_id, parse_uuid
from domain.shared.index import IndexEntry
from domain.shared.values import Actor


class UserDirectory(Protocol):
    """What the organizations context needs from identity."""

    def user(self, user_id: str | UUID) -> User | None: ...

    def user_by_login(self, login: str) -> User | None: ...


# What an agent may never do, whatever its policy says: each action mints a credential or
# grants power (a role, another principal's key, a member, a policy, an attachment, a group
# membership) that would stop depending on the agent's creator, so the per-request "never
# more than its creator" check could no longer bound it. Identity administration is for users
# and roles. (An agent may still issue keys for itself.)
AGENT_FORBIDDEN_ACTIONS: dict[str, str] = {
    "CreateAgent": "create agents",
    "UpdateAgent": "update agents",
    "DeleteAgent": "delete agents",
    "CreateRole": "create roles",
    "CreateRoleAPIKey": "issue keys for roles",
    "CreateAgentAPIKey": "issue keys for other agents",
    "CreateInvitation": "invite people",
    "AddMember": "add members",
    "CreatePolicy": "create policies",
    "UpdatePolicy": "update policies",
    "DeletePolicy": "delete policies",
    "AttachPolicy": "attach policies",
    "DetachPolicy": "detach policies",
    "AddGroupMember": "add group members",
    "RemoveGroupMember": "remove group members",
}


def require_identity_admin(principal: Principal, action: str) -> None:
    """Refuse identity administration (`AGENT_FORBIDDEN_ACTIONS`) to agents."""
    if principal.type == "agent":
        raise Forbidden(
            f"agents cannot {AGENT_FORBIDDEN_ACTIONS[action]}: identity administration is "
            "for users and roles"
        )


def builtin_policy_id(org_id: str, name: str) -> UUID:
    return derived_id("builtin-policy", org_id, name)


def graph_id(org_id: str) -> UUID:
    return derived_id("group-graph", org_id)


class OrganizationsBase(TildeApplication):
    """Lookups and helpers the organization command mixins share."""

    snapshotting_intervals = {Organization: 100, Group: 100, Policy: 100, GroupGraph: 100}

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        users: UserDirectory,
        authorizer: Authorizer | None = None,
        signer: TokenSigner | None = None,
        deleted_retention_days: int = 7,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, **kwargs)
        # How long a deleted organization stays restorable (and its name reserved) before GC.
        self.deleted_retention = timedelta(days=deleted_retention_days)
        self.users = users
        self.authorizer: Authorizer | None = authorizer
        self.signer = signer

    # -- indexes --------------------------------------------------------------------------
    def index_owner(self, kind: str, key: str) -> str | None:
        entry = self.find(index_id(kind, key), IndexEntry)
        return entry.owner_id if entry is not None and not entry.is_free else None

    def claim(self, kind: str, key: str, owner_id: str, what: str) -> IndexEntry:
        """A new or re-taken index entry; Conflict when the key is held."""
        entry = self.find(index_id(kind, key), IndexEntry)
        if entry is None:
            return IndexEntry.claim(kind, key, owner_id)
        if not entry.is_free:
            raise Conflict(f"{what} '{key}' already exists")
        entry.reclaim(owner_id)
        return entry

    def release(self, kind: str, key: str, owner: object = None) -> IndexEntry | None:
        """Free a key (only if `owner` holds it, when given); the entry to save, or None."""
        entry = self.find(index_id(kind, key), IndexEntry)
        if entry is None or entry.is_free or (owner is not None and entry.owner_id != str(owner)):
            return None
        entry.release()
        return entry

    # -- aggregates by name or id ---------------------------------------------------------
    def organization(self, name_or_id: str) -> Organization:
        """A live organization by id (a UUID) or else by name: names never look like ids
        (`check_org_name`), so one string never means two organizations."""
        as_id = parse_uuid(name_or_id)
        if as_id is not None:
            org = self.find(as_id, Organization)
        else:
            owner = self.index_owner("org-name", name_or_id)
            org = self.find(UUID(owner), Organization) if owner else None
        if org is None or org.deleted:
            raise NotFound(f"organization '{name_or_id}' not found")
        return org

    def _in_org(self, aggregate_id: str, kind: type[Any], org_id: str, what: str) -> Any:
        try:
            aggregate = self.find(UUID(str(aggregate_id)), kind)
        except ValueError:
            aggregate = None
        if aggregate is None or aggregate.organization_id != org_id or aggregate.deleted:
            raise NotFound(f"{what} not found")
        return aggregate

    def group(self, org_id: str, group_id: str) -> Group:
        return self._in_org(group_id, Group, org_id, "group")  # type: ignore[no-any-return]

    def policy(self, org_id: str, policy_id: str) -> Policy:
        return self._in_org(policy_id, Policy, org_id, "policy")  # type: ignore[no-any-return]

    def invitation(self, org_id: str, invitation_id: str) -> Invitation:
        return self._in_org(
            invitation_id,
            Invitation,
            org_id,  # type: ignore[no-any-return]
            "invitation",
        )

    def find_group(self, group_id: str) -> Group | None:
        return self.find(UUID(group_id), Group)

    def find_policy(self, policy_id: str) -> Policy | None:
        return self.find(UUID(policy_id), Policy)

    def role_by_name(self, org_id: str, name: str) -> Role:
        owner = self.index_owner(f"role-name:{org_id}", name)
        if owner is None:
            raise NotFound(f"role '{name}' not found")
        return self._in_org(owner, Role, org_id, f"role '{name}'")  # type: ignore[no-any-return]

    def agent_by_name(self, org_id: str, name: str) -> Agent:
        owner = self.index_owner(f"agent-name:{org_id}", name)
        if owner is None:
            raise NotFound(f"agent '{name}' not found")
        return self._in_org(
            owner,
            Agent,
            org_id,  # type: ignore[no-any-return]
            f"agent '{name}'",
        )

    def graph(self, org_id: str, actor: Actor) -> GroupGraph:
        graph = self.find(graph_id(org_id), GroupGraph)
        return graph or GroupGraph.start(
            graph_id=graph_id(org_id), organization_id=org_id, actor=actor
        )

    # -- shared steps ---------------------------------------------------------------------
    def member_grants(self, org_id: str, user_id: str, actor: Actor) -> list[Policy]:
        """The built-in Member and AgentManager policies, attached to a new member."""
        grants = []
        for name in (MEMBER, AGENT_MANAGER):
            policy = self.find(builtin_policy_id(org_id, name), Policy)
            if policy is not None and not policy.is_attached("user", user_id):
                policy.attach("user", user_id, actor)
                grants.append(policy)
        return grants

    def require_an_owner(
        self,
        org_id: str,
        *,
        drop_user: str = "",
        drop_attachment: str = "",
        drop_edge: tuple[str, str] | None = None,
        drop_group: str = "",
    ) -> None:
        """Refuse a change after which no member user would hold Owner (directly or through
        groups): an organization nobody can administer cannot be repaired through the API."""
        snap = self.snapshot(org_id)
        owner = self.find(builtin_policy_id(org_id, OWNER), Policy)
        if snap is None or owner is None:
            return
        children: dict[str, list[str]] = {}
        for subject, groups in snap.memberships.items():
            for group in groups:
                if (group, subject) != drop_edge and group != drop_group:
                    children.setdefault(group, []).append(subject)
        seen: set[str] = set()
        stack = [k for k in owner.attachments if k != drop_attachment]
        while stack:
            key = stack.pop()
            kind, _, ident = key.partition(":")
            if key in seen or ident == drop_group:
                continue
            seen.add(key)
            if kind == "user" and ident != drop_user and ident in snap.members:
                return
            if kind == "group":
                stack.extend(children.get(ident, []))
        raise Conflict(
            "this would remove the last owner of the organization; attach the Owner "
            "policy to another member first"
        )

    def snapshot(self, org_id: str) -> OrgSnapshot | None:
        return self.authorizer.snapshot(org_id) if self.authorizer else None

    def require_subject(self, org: Organization, subject_type: str, subject_id: str) -> str:
        """The display name of a user, group, role or agent of this organization (or 404)."""
        org_id = str(org.id)
        if subject_type == "user":
            if not org.is_member(subject_id):
                raise NotFound(f"user {subject_id} is not a member of this organization")
            user = self.users.user(subject_id)
            return user.username if user else subject_id
        kinds: dict[str, type[Any]] = {"group": Group, "role": Role, "agent": Agent}
        if subject_type not in kinds:
            raise NotFound(f"unknown principal type '{subject_type}'")
        aggregate = self._in_org(subject_id, kinds[subject_type], org_id, subject_type)
        return str(aggregate.name)

    @staticmethod
    def builtin_names() -> list[str]:
        return list(BUILTINS)

    @staticmethod
    def actor_of(principal: Principal) -> Actor:
        return principal.actor
