"""Organization commands: create (with built-in policies), delete, restore, purge, members."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError

from application.base import Result
from application.organizations.app import (
    OrganizationsBase,
    builtin_policy_id,
    require_identity_admin,
)
from application.principal import Principal
from domain.identity.rules import clean_text
from domain.organizations.builtins import BUILTINS, OWNER
from domain.organizations.organization import Organization
from domain.organizations.policy import Policy
from domain.organizations.rules import check_org_name, slug_problem
from domain.shared.errors import Conflict, Forbidden, NotFound
from domain.shared.values import Actor, stamp


class OrganizationCommands(OrganizationsBase):
    """Creating and deleting organizations and changing who belongs to them."""

    def name_status(self, name: str) -> tuple[bool, str]:
        problem = slug_problem(name)
        if problem:
            return False, problem
        return (False, "taken") if self.index_owner("org-name", name) else (True, "")

    def create_organization(
        self, *, name: object, display_name: object, principal: Principal
    ) -> Result[Organization]:
        if not principal.is_user:
            raise Forbidden("only users can create organizations")
        slug = check_org_name(name)
        display = clean_text(display_name, "display_name", required=True)
        self._require_free(slug)
        actor = principal.actor
        org_id = uuid4()
        org = Organization.create(org_id=org_id, name=slug, display_name=display, actor=actor)
        policies = [
            Policy.create(
                policy_id=builtin_policy_id(str(org_id), policy_name),
                organization_id=str(org_id),
                name=policy_name,
                description=description,
                text=text,
                actor=actor,
                is_builtin=True,
            )
            for policy_name, (description, text) in BUILTINS.items()
        ]
        policies[list(BUILTINS).index(OWNER)].attach("user", principal.id, actor)
        indexes = [self.claim("org-name", slug, str(org_id), "organization")]
        indexes += [
            self.claim(f"policy-name:{org_id}", p.name, str(p.id), "policy") for p in policies
        ]
        try:
            written = self.record(org, *policies, *indexes)
        except IntegrityError:
            raise Conflict(f"organization name '{slug}' is taken") from None
        return Result(org, (written,))

    def _require_free(self, slug: str) -> None:
        owner = self.index_owner("org-name", slug)
        if not owner:
            return
        held = self.find(UUID(owner), Organization)
        if held is not None and held.deleted and not held.is_purged:
            until = stamp(held.purge_after(self.deleted_retention))
            raise Conflict(
                f"organization name '{slug}' is reserved until {until}: an organization of "
                "that name was deleted and the operator can still restore it "
                f"(tilde-server organizations restore {slug}); the name is free once it is purged"
            )
        raise Conflict(f"organization name '{slug}' is taken")

    def delete_organization(
        self, org_id: str, principal: Principal, *, repositories: Sequence[str]
    ) -> Result[None]:
        """Soft delete, refused while `repositories` (its live ones) remain; the name stays
        reserved so that the operator can restore it until garbage collection purges it."""

        def command() -> Result[None]:
            org = self.organization(org_id)
            org.delete(principal.actor, repositories=repositories, at=self.clock())
            return Result(None, (self.record(org),))

        return self.retrying(command)

    def set_egress_default(
        self, org_id: str, value: object, principal: Principal
    ) -> Result[Organization]:
        """The organization's network default for sandboxes ("allow" public destinations,
        or "deny" what no network policy allows); authorized by the route's action."""

        def command() -> Result[Organization]:
            org = self.organization(org_id)
            org.set_egress_default(value, principal.actor)
            return Result(org, (self.record(org),))

        return self.retrying(command)

    def deleted_organization(self, org_id: str) -> Organization:
        """A deleted, not yet purged organization by id (NotFound otherwise)."""
        try:
            org = self.find(UUID(org_id), Organization)
        except ValueError:
            org = None
        if org is None or not org.deleted or org.is_purged:
            raise NotFound(f"no deleted organization {org_id}")
        return org

    def restore_organization(self, org_id: str, actor: Actor) -> Result[Organization]:
        """Undelete; the name comes back with it unless another organization took it (only
        possible for deletions made before names stayed reserved)."""

        def command() -> Result[Organization]:
            org = self.deleted_organization(org_id)
            owner = self.index_owner("org-name", org.name)
            if owner is not None and owner != str(org.id):
                raise Conflict(
                    f"organization name '{org.name}' now belongs to another organization"
                )
            org.restore(actor)
            claimed = (
                [] if owner else [self.claim("org-name", org.name, str(org.id), "organization")]
            )
            return Result(org, (self.record(org, *claimed),))

        return self.retrying(command)

    def purge_organization(self, org_id: str, actor: Actor) -> Result[None]:
        """Garbage collection's last step for a deleted organization: free its name."""

        def command() -> Result[None]:
            org = self.deleted_organization(org_id)
            org.purge(actor)
            released = self.release("org-name", org.name, owner=org.id)
            return Result(None, (self.record(org, *([released] if released else [])),))

        return self.retrying(command)

    def add_member(
        self, org_id: str, username: object, principal: Principal
    ) -> Result[Organization]:
        """The legacy `POST /members {"username"}`: add an existing active user directly."""
        require_identity_admin(principal, "AddMember")
        if not isinstance(username, str) or not username:
            raise NotFound("user not found")
        user = self.users.user_by_login(username)
        if user is None or not user.is_active:
            raise NotFound(f"user '{username}' not found")

        def command() -> Result[Organization]:
            org = self.organization(org_id)
            org.add_member(str(user.id), via="direct", actor=principal.actor)
            grants = self.member_grants(str(org.id), str(user.id), principal.actor)
            return Result(org, (self.record(org, *grants),))

        return self.retrying(command)

    def remove_member(self, org_id: str, user_id: str, principal: Principal) -> Result[None]:
        """Remove a member with their group memberships and direct policy attachments."""
        actor = principal.actor

        def command() -> Result[None]:
            org = self.organization(org_id)
            if not org.is_member(user_id):
                raise NotFound("member not found")
            changed: list[object] = []
            snap = self.snapshot(str(org.id))
            group_ids = snap.memberships.get(f"user:{user_id}", []) if snap else []
            for group_id in group_ids:
                group = self.find_group(group_id)
                if group is not None and group.has("user", user_id):
                    group.remove("user", user_id, actor)
                    changed.append(group)
            policy_ids = snap.attachments.get(f"user:{user_id}", []) if snap else []
            policies = [p for p in (self.find_policy(i) for i in policy_ids) if p is not None]
            self.require_an_owner(str(org.id), drop_user=user_id)
            for policy in policies:
                if policy.is_attached("user", user_id):
                    policy.detach("user", user_id, actor)
                    changed.append(policy)
            org.remove_member(user_id, actor)
            return Result(None, (self.record(org, *changed),))

        return self.retrying(command)
