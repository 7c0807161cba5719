"""Invitation commands: invite by email or username, revoke, accept, decline."""

from __future__ import annotations

from uuid import UUID, uuid4

from application.base import Result
from application.organizations.app import OrganizationsBase, require_identity_admin
from application.ports import TokenSigner
from application.principal import Principal
from domain.identity.rules import normalize_email
from domain.identity.user import User
from domain.organizations.invitation import Invitation
from domain.organizations.policy import Policy
from domain.shared.errors import Conflict, Forbidden, Invalid, NotFound
from domain.shared.ids import index_id
from domain.shared.index import IndexEntry


def _ids(values: object, what: str) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise Invalid(f"{what} must be a list of ids")
    try:
        return [str(UUID(v)) for v in dict.fromkeys(values)]
    except ValueError:
        raise Invalid(f"{what} must contain UUIDs") from None


def invitation_token(signer: TokenSigner, invitation_id: str) -> str:
    """The token an invitation email carries (derived from the id, never stored)."""
    return signer.sign("invite", invitation_id, ttl_seconds=8 * 24 * 3600)


def addresses_of(user: User) -> set[str]:
    """Emails this user proved to control (verified): an unverified address proves nothing,
    since anyone can sign up with an address they guessed an invitation was sent to."""
    return {e["email"] for e in user.emails.values() if e["verified"]}


class InvitationCommands(OrganizationsBase):
    """Bringing people into an organization."""

    def invite(
        self,
        org_id: str,
        *,
        email: object = None,
        username: object = None,
        group_ids: object = None,
        policy_ids: object = None,
        principal: Principal,
    ) -> Result[Invitation]:
        require_identity_admin(principal, "CreateInvitation")
        if (email is None) == (username is None):
            raise Invalid("give exactly one of email or username")
        org = self.organization(org_id)
        invitee_id = ""
        if username is not None:
            user = self.users.user_by_login(str(username)) if isinstance(username, str) else None
            if user is None or user.is_deleted or "@" in str(username):
                raise NotFound(f"user '{username}' not found")
            address, invitee_id = user.email, str(user.id)
        else:
            address = normalize_email(email)
            user = self.users.user_by_login(address)
            invitee_id = str(user.id) if user is not None and not user.is_deleted else ""
        if invitee_id and org.is_member(invitee_id):
            raise Conflict("that user is already a member of this organization")
        groups = _ids(group_ids, "group_ids")
        policies = _ids(policy_ids, "policy_ids")
        # Accepting adds the invitee to these groups and attaches these policies: the
        # inviter must be allowed to do that themselves, or inviting would escalate.
        for group_id in groups:
            group = self.group(str(org.id), group_id)
            self._inviter_may(principal, str(org.id), "AddGroupMember", {"group": group.name})
        for policy_id in policies:
            policy = self.policy(str(org.id), policy_id)
            self._inviter_may(principal, str(org.id), "AttachPolicy", {"policy": policy.name})
        now = self.clock()
        invitation_id = uuid4()
        entry = self.find(index_id(f"invite:{org.id}", address), IndexEntry)
        if entry is not None and not entry.is_free:
            previous = self.find(UUID(entry.owner_id), Invitation)
            if previous is not None and previous.status(now) == "pending":
                raise Conflict(f"a pending invitation for {address} already exists")
        if entry is None:
            entry = IndexEntry.claim(f"invite:{org.id}", address, invitation_id)
        else:
            entry.reclaim(invitation_id)
        # By email, the invitation names the account holding that address only once the
        # address is verified there: otherwise whoever claimed it unverified would be invited.
        if username is None and (user is None or address not in addresses_of(user)):
            addressee = ""
        else:
            addressee = invitee_id
        invitation = Invitation.create(
            invitation_id=invitation_id,
            organization_id=str(org.id),
            email=address,
            user_id=addressee,
            group_ids=groups,
            policy_ids=policies,
            now=now,
            actor=principal.actor,
        )
        return Result(invitation, (self.record(invitation, entry),))

    def _inviter_may(
        self, principal: Principal, org_id: str, action: str, resource: dict[str, str]
    ) -> None:
        if self.authorizer is not None:
            self.authorizer.authorize(principal, org_id, action, resource)

    def _token_names(self, token: object) -> str | None:
        """The invitation id an emailed token carries, if the token is genuine and current."""
        if not isinstance(token, str) or not token or self.signer is None:
            return None
        return self.signer.verify("invite", token)

    def invitation_by_token(self, token: str) -> Invitation:
        """The pending invitation an emailed token names, or NotFound."""
        invitation_id = self._token_names(token)
        try:
            invitation = self.find(UUID(invitation_id or ""), Invitation)
        except ValueError:
            invitation = None
        if invitation is None or invitation.status(self.clock()) != "pending":
            raise NotFound("invitation not found or no longer pending")
        return invitation

    def revoke_invitation(
        self, org_id: str, invitation_id: str, principal: Principal
    ) -> Result[None]:
        org = self.organization(org_id)
        invitation = self.invitation(str(org.id), invitation_id)
        invitation.revoke(self.clock(), principal.actor)
        released = self.release(f"invite:{org.id}", invitation.email, invitation.id)
        return Result(None, (self.record(invitation, released),))

    def _addressed(
        self, invitation_id: str, principal: Principal, token: object
    ) -> tuple[Invitation, User]:
        """The invitation, if the caller proves it is theirs: the emailed token, a verified
        address it was sent to, or being the user it was made out to by username."""
        user = self.users.user(principal.id)
        try:
            invitation = self.find(UUID(invitation_id), Invitation)
        except ValueError:
            invitation = None
        if user is None or invitation is None:
            raise NotFound("invitation not found")
        if (
            self._token_names(token) == str(invitation.id)
            or invitation.user_id == principal.id
            or invitation.email in addresses_of(user)
        ):
            return invitation, user
        if any(e["email"] == invitation.email for e in user.emails.values()):
            raise Forbidden(
                f"verify {invitation.email} first, or answer through the link in the "
                "invitation email"
            )
        raise NotFound("invitation not found")

    def accept_invitation(
        self, invitation_id: str, principal: Principal, *, token: object = None
    ) -> Result[None]:
        """Join: membership, the built-in member grants, and the invitation's groups/policies."""
        actor = principal.actor

        def command() -> Result[None]:
            invitation, _ = self._addressed(invitation_id, principal, token)
            org = self.organization(invitation.organization_id)
            invitation.accept(principal.id, self.clock(), actor)
            changed: list[object] = [invitation]
            touched: dict[str, Policy] = {}
            if not org.is_member(principal.id):
                org.add_member(principal.id, via="invitation", actor=actor)
                changed.append(org)
                touched = {
                    str(p.id): p for p in self.member_grants(str(org.id), principal.id, actor)
                }
            for group_id in invitation.group_ids:
                group = self.find_group(group_id)
                if group is not None and not group.deleted and not group.has("user", principal.id):
                    group.add("user", principal.id, actor)
                    changed.append(group)
            for policy_id in invitation.policy_ids:
                policy = touched.get(policy_id) or self.find_policy(policy_id)
                if policy and not policy.deleted and not policy.is_attached("user", principal.id):
                    policy.attach("user", principal.id, actor)
                    touched[policy_id] = policy
            changed.extend(touched.values())
            changed.append(self.release(f"invite:{org.id}", invitation.email, invitation.id))
            return Result(None, (self.record(*changed),))

        return self.retrying(command)

    def decline_invitation(
        self, invitation_id: str, principal: Principal, *, token: object = None
    ) -> Result[None]:
        invitation, _ = self._addressed(invitation_id, principal, token)
        invitation.decline(self.clock(), principal.actor)
        released = self.release(
            f"invite:{invitation.organization_id}", invitation.email, invitation.id
        )
        return Result(None, (self.record(invitation, released),))
