"""Role and agent commands, and their API keys (issued by the identity context)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol
from uuid import uuid4

from application.base import Result, Written
from application.organizations.app import OrganizationsBase, require_identity_admin
from application.principal import Principal
from domain.identity.api_key import ApiKey
from domain.organizations.agent import Agent, check_metadata
from domain.organizations.role import Role
from domain.organizations.rules import check_slug, check_text
from domain.shared.errors import Invalid, NotFound
from domain.shared.values import Actor


class KeyIssuer(Protocol):
    """The identity context's key commands."""

    def create_api_key(
        self,
        *,
        owner_type: str,
        owner_id: str,
        name: object,
        description: object = "",
        organization_id: str = "",
        actor: Actor,
    ) -> Result[tuple[ApiKey, str]]: ...

    def owned_key(self, key_id: str, *, owner_type: str, owner_id: str) -> ApiKey: ...

    def revoke_api_key(
        self, key_id: str, *, owner_type: str, owner_id: str, actor: Actor
    ) -> Result[ApiKey]: ...


def _policy_text(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid("inline_policy must be a string")
    return value


class PrincipalCommands(OrganizationsBase):
    """Non-human identities: roles (CI/CD) and agents (with inline policies)."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        keys: KeyIssuer,
        key_ids_of: Callable[[str, str], list[str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(env, **kwargs)
        self.keys = keys
        # Lists the ids of an owner's live keys (the api_keys read model).
        self.key_ids_of = key_ids_of

    def create_role(
        self, org_id: str, *, name: object, description: object, principal: Principal
    ) -> Result[Role]:
        require_identity_admin(principal, "CreateRole")
        org = self.organization(org_id)
        slug = check_slug(name, "role")
        role_id = uuid4()
        index = self.claim(f"role-name:{org.id}", slug, str(role_id), "role")
        role = Role.create(
            role_id=role_id,
            organization_id=str(org.id),
            name=slug,
            description=check_text(description, "description"),
            actor=principal.actor,
        )
        return Result(role, (self.record(role, index),))

    def delete_role(self, org_id: str, name: str, principal: Principal) -> Result[None]:
        org = self.organization(org_id)

        def command() -> tuple[str, Written]:
            role = self.role_by_name(str(org.id), name)
            role.delete(principal.actor)
            released = self.release(f"role-name:{org.id}", role.name, role.id)
            left = self._leave_groups_and_policies(
                str(org.id), "role", str(role.id), principal.actor
            )
            return str(role.id), self.record(role, released, *left)

        role_id, written = self.retrying(command)
        return Result(None, (written, *self._revoke_keys("role", role_id, principal.actor)))

    def create_agent(
        self,
        org_id: str,
        *,
        name: object,
        description: object = None,
        metadata: object = None,
        inline_policy: object = None,
        principal: Principal,
    ) -> Result[Agent]:
        require_identity_admin(principal, "CreateAgent")
        org = self.organization(org_id)
        slug = check_slug(name, "agent")
        agent_id = uuid4()
        index = self.claim(f"agent-name:{org.id}", slug, str(agent_id), "agent")
        agent = Agent.create(
            agent_id=agent_id,
            organization_id=str(org.id),
            name=slug,
            description=check_text(description, "description"),
            metadata=check_metadata(metadata),
            inline_policy=_policy_text(inline_policy),
            actor=principal.actor,
        )
        return Result(agent, (self.record(agent, index),))

    def update_agent(
        self,
        org_id: str,
        name: str,
        *,
        description: object = None,
        metadata: object = None,
        inline_policy: object = None,
        principal: Principal,
    ) -> Result[Agent]:
        require_identity_admin(principal, "UpdateAgent")
        org = self.organization(org_id)

        def command() -> Result[Agent]:
            agent = self.agent_by_name(str(org.id), name)
            agent.update(
                description=None if description is None else check_text(description, "description"),
                metadata=None if metadata is None else check_metadata(metadata),
                inline_policy=None if inline_policy is None else _policy_text(inline_policy),
                actor=principal.actor,
            )
            return Result(agent, (self.record(agent),))

        return self.retrying(command)

    def delete_agent(self, org_id: str, name: str, principal: Principal) -> Result[None]:
        require_identity_admin(principal, "DeleteAgent")
        org = self.organization(org_id)

        def command() -> tuple[str, Written]:
            agent = self.agent_by_name(str(org.id), name)
            agent.delete(principal.actor)
            released = self.release(f"agent-name:{org.id}", agent.name, agent.id)
            left = self._leave_groups_and_policies(
                str(org.id), "agent", str(agent.id), principal.actor
            )
            return str(agent.id), self.record(agent, released, *left)

        agent_id, written = self.retrying(command)
        return Result(None, (written, *self._revoke_keys("agent", agent_id, principal.actor)))

    def _leave_groups_and_policies(
        self, org_id: str, kind: str, ident: str, actor: Actor
    ) -> list[object]:
        """A deleted role or agent leaves its groups and loses its direct attachments (as a
        removed member does), so no dangling record outlives it."""
        changed: list[object] = []
        snap = self.snapshot(org_id)
        for group_id in snap.memberships.get(f"{kind}:{ident}", []) if snap else []:
            group = self.find_group(group_id)
            if group is not None and group.has(kind, ident):
                group.remove(kind, ident, actor)
                changed.append(group)
        for policy_id in snap.attachments.get(f"{kind}:{ident}", []) if snap else []:
            policy = self.find_policy(policy_id)
            if policy is not None and policy.is_attached(kind, ident):
                policy.detach(kind, ident, actor)
                changed.append(policy)
        return changed

    def _revoke_keys(self, owner_type: str, owner_id: str, actor: Actor) -> list[Written]:
        # The deleted owner already makes its keys useless; revoking them keeps lists honest.
        written: list[Written] = []
        for key_id in self.key_ids_of(owner_type, owner_id):
            result = self.keys.revoke_api_key(
                key_id, owner_type=owner_type, owner_id=owner_id, actor=actor
            )
            written.extend(result.written)
        return written

    # -- keys -----------------------------------------------------------------------------
    def owner(self, org_id: str, owner_type: str, name: str) -> Role | Agent:
        org = self.organization(org_id)
        if owner_type == "role":
            return self.role_by_name(str(org.id), name)
        return self.agent_by_name(str(org.id), name)

    def create_key(
        self,
        org_id: str,
        owner_type: str,
        name: str,
        *,
        key_name: object,
        description: object = "",
        principal: Principal,
    ) -> Result[tuple[ApiKey, str]]:
        owner: Any = self.owner(org_id, owner_type, name)
        if not (owner_type == "agent" and str(owner.id) == principal.id):
            # An agent's own key is bounded by the agent; anyone else's would not be.
            action = "CreateAgentAPIKey" if owner_type == "agent" else "CreateRoleAPIKey"
            require_identity_admin(principal, action)
        return self.keys.create_api_key(
            owner_type=owner_type,
            owner_id=str(owner.id),
            name=key_name,
            description=description or "",
            organization_id=owner.organization_id,
            actor=principal.actor,
        )

    def revoke_key(
        self, org_id: str, owner_type: str, name: str, key_id: str, principal: Principal
    ) -> Result[ApiKey]:
        owner = self.owner(org_id, owner_type, name)
        return self.keys.revoke_api_key(
            key_id, owner_type=owner_type, owner_id=str(owner.id), actor=principal.actor
        )

    # -- authentication of role and agent keys ---------------------------------------------
    def principal_for_key(self, key: ApiKey) -> Principal | None:
        """The role or agent a `trk-`/`tak-` key acts as, while both are live."""
        principal = self.owner_principal(key.owner_type, key.owner_id, key.organization_id)
        return replace(principal, key_id=str(key.id)) if principal is not None else None

    def owner_principal(self, owner_type: str, owner_id: str, org_id: str) -> Principal | None:
        """The role or agent (a key's owner, a sandbox's `run_as`) while it is live."""
        kinds: dict[str, type[Any]] = {"role": Role, "agent": Agent}
        kind = kinds.get(owner_type)
        if kind is None:
            return None
        try:
            owner = self._in_org(owner_id, kind, org_id, owner_type)
        except NotFound:
            return None
        return Principal(
            type=owner_type, id=owner_id, name=owner.name, via="bearer", organization_id=org_id
        )
