"""The Invitation aggregate: an email (or user) asked to join, with groups/policies to apply."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.shared.errors import Conflict, Gone
from domain.shared.scoped import OrgAggregate, OrgCreated, OrgEvent, start_state
from domain.shared.values import Actor

INVITATION_TTL = timedelta(days=7)


class Invitation(OrgAggregate):
    """Pending until accepted, declined, revoked or expired (after seven days)."""

    class Created(OrgCreated):
        """Someone was invited."""

        email: str
        user_id: str
        group_ids: list[str]
        policy_ids: list[str]
        expires_at: datetime

        def apply(self, invitation: Invitation) -> None:
            start_state(invitation, self)
            invitation.email = self.email
            invitation.user_id = self.user_id
            invitation.group_ids = list(self.group_ids)
            invitation.policy_ids = list(self.policy_ids)
            invitation.expires_at = self.expires_at
            invitation.outcome = "pending"

    class Accepted(OrgEvent):
        """The invitee joined."""

        user_id: str

        def apply(self, invitation: Invitation) -> None:
            invitation.outcome = "accepted"
            invitation.user_id = self.user_id

    class Declined(OrgEvent):
        """The invitee said no."""

        def apply(self, invitation: Invitation) -> None:
            invitation.outcome = "declined"

    class Revoked(OrgEvent):
        """The organization withdrew the invitation."""

        def apply(self, invitation: Invitation) -> None:
            invitation.outcome = "revoked"

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        email: str
        user_id: str
        group_ids: list[str]
        policy_ids: list[str]
        expires_at: datetime
        outcome: str

    @classmethod
    def create(
        cls,
        *,
        invitation_id: Any,
        organization_id: str,
        email: str,
        user_id: str,
        group_ids: list[str],
        policy_ids: list[str],
        now: datetime,
        actor: Actor,
    ) -> Invitation:
        invitation: Invitation = cls._start(
            cls.Created,
            id=invitation_id,
            organization_id=organization_id,
            actor=actor,
            email=email,
            user_id=user_id,
            group_ids=group_ids,
            policy_ids=policy_ids,
            expires_at=now + INVITATION_TTL,
            timestamp=now,
        )
        return invitation

    def status(self, now: datetime) -> str:
        if self.outcome == "pending" and now >= self.expires_at:
            return "expired"
        return self.outcome

    def _require_pending(self, now: datetime) -> None:
        status = self.status(now)
        if status in ("expired", "revoked"):
            raise Gone(f"this invitation is {status}")
        if status != "pending":
            raise Conflict(f"this invitation was already {status}")

    def accept(self, user_id: str, now: datetime, actor: Actor) -> None:
        self._require_pending(now)
        self._act(self.Accepted, actor, user_id=user_id)

    def decline(self, now: datetime, actor: Actor) -> None:
        self._require_pending(now)
        self._act(self.Declined, actor)

    def revoke(self, now: datetime, actor: Actor) -> None:
        if self.status(now) != "pending":
            raise Conflict(f"the invitation is no longer pending ({self.status(now)})")
        self._act(self.Revoked, actor)
