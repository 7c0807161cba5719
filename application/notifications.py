"""Which emails an event causes, and their text (a pure function of the event and history)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote
from uuid import UUID

from application.identity import IdentityApplication
from application.organizations import OrganizationsApplication
from application.organizations.invitations import invitation_token
from application.ports import EmailMessage, TokenSigner
from domain.identity.user import User
from domain.organizations.invitation import Invitation
from domain.shared.ids import derived_id
from domain.shared.values import iso


class Notifier:
    """Composes outgoing email for identity events; deterministic, so replays are harmless."""

    def __init__(
        self,
        identity: IdentityApplication,
        organizations: OrganizationsApplication,
        *,
        base_url: str,
        signer: TokenSigner,
    ) -> None:
        self.identity = identity
        self.organizations = organizations
        self.base_url = base_url.rstrip("/")
        self.signer = signer

    def _user_at(self, event: Any) -> User:
        user: Any = self.identity.repository.get(
            event.originator_id, version=event.originator_version
        )
        assert isinstance(user, User)
        return user

    def _message(self, event: Any, kind: str, to: str, subject: str, body: str) -> EmailMessage:
        message_id = str(derived_id("email", event.originator_id, event.originator_version, kind))
        return EmailMessage(
            message_id=message_id, to=to, subject=subject, body=body, headers={"X-Tilde-Kind": kind}
        )

    def _verify_link(self, user_id: str, email_id: str, email: str) -> str:
        token = self.identity.verification_token(user_id, email_id, email)
        return f"{self.base_url}/api/v1/auth/verify-email?token={quote(token)}"

    def emails_for(self, event: Any) -> list[EmailMessage]:
        if isinstance(event, Invitation.Created):
            return [self._invited(event)]
        if isinstance(event, User.SignedUp):
            return [self._signed_up(event)]
        if isinstance(event, User.Approved):
            user = self._user_at(event)
            return [
                self._message(
                    event,
                    "approved",
                    user.email,
                    "Your Tilde account is approved",
                    f"Hello {user.full_name},\n\nYour account '{user.username}' has been approved."
                    f" You can sign in now at {self.base_url}/ .\n",
                )
            ]
        if isinstance(event, User.PasswordResetRequested):
            user = self._user_at(event)
            token = self.identity.reset_token(str(user.id), event.request_id)
            link = f"{self.base_url}/console/reset-password?token={quote(token)}"
            return [
                self._message(
                    event,
                    "password-reset",
                    user.email,
                    "Reset your Tilde password",
                    f"Hello {user.full_name},\n\nSomeone asked to reset the password of "
                    f"'{user.username}'. If it was you, open this link within an hour:\n\n"
                    f"{link}\n\n"
                    "If it was not you, ignore this email; your password is unchanged.\n",
                )
            ]
        if isinstance(event, User.EmailAdded):
            user = self._user_at(event)
            link = self._verify_link(str(user.id), event.email_id, event.email)
            return [
                self._message(
                    event,
                    "verify-email",
                    event.email,
                    "Confirm your email for Tilde",
                    f"Hello {user.full_name},\n\nConfirm that {event.email} belongs to your Tilde "
                    f"account '{user.username}':\n\n{link}\n",
                )
            ]
        return []

    def _signed_up(self, event: User.SignedUp) -> EmailMessage:
        link = self._verify_link(str(event.originator_id), event.email_id, event.email)
        if event.status == "pending":
            text = (
                "Thanks for signing up. Tilde is in private preview: an operator will "
                "review your account, and you will get a second email when you can sign "
                "in."
            )
        else:
            text = f"Your account is active. Sign in at {self.base_url}/ ."
        return self._message(
            event,
            "signup",
            event.email,
            "Welcome to Tilde — confirm your email",
            f"Hello {event.full_name},\n\n{text}\n\nUsername: {event.username}\n\n"
            f"Confirm your email address:\n\n{link}\n",
        )

    def _invited(self, event: Invitation.Created) -> EmailMessage:
        org: Any = self.organizations.repository.get(UUID(event.organization_id))
        inviter = self.identity.user(event.actor_id)
        who = inviter.full_name if inviter else "Someone"
        token = invitation_token(self.signer, str(event.originator_id))
        link = f"{self.base_url}/console/invitations?token={quote(token)}"
        return self._message(
            event,
            "invitation",
            event.email,
            f"{who} invited you to {org.display_name} on Tilde",
            f"Hello,\n\n{who} invited you to join the organization '{org.display_name}' "
            f"({org.name}) on Tilde. The invitation expires on {iso(event.expires_at)}.\n\n"
            f"Sign in (or sign up with this email address, {event.email}) and accept it:"
            f"\n\n{link}\n",
        )
