"""The User aggregate: profile, emails, password credential and approval."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from eventsourcing.domain import Aggregate

from domain.shared.errors import Conflict, Gone, Invalid, NotFound
from domain.shared.values import Actor, iso

PENDING = "pending"
ACTIVE = "active"
DELETED = "deleted"
# Failed sign-ins and lockouts are counted in the rate limiter (application/identity/
# passwords.py), not here: an unknown login name must lock exactly like a known one, and a
# guess must not write an event. The LoginFailed/Locked/LoginFailuresCleared events stay so
# that streams recorded before that change still replay.
FAILED_LOGINS_KEPT = 50
RESET_TTL = timedelta(hours=1)


class User(Aggregate):
    """A person who signs in; approval, lockout and credentials are its invariants."""

    class SignedUp(Aggregate.Created):
        """An account was created (by signup, or by the operator as an admin)."""

        username: str
        email: str
        email_id: str
        full_name: str
        company: str
        password_hash: str
        status: str
        is_admin: bool
        source: str
        actor_type: str
        actor_id: str

        def apply(self, user: User) -> None:
            user.username = self.username
            user.email = self.email
            user.full_name = self.full_name
            user.company = self.company
            user.bio = ""
            user.password_hash = self.password_hash
            user.status = self.status
            user.is_admin = self.is_admin
            user.source = self.source
            user.emails = {
                self.email_id: {
                    "email": self.email,
                    "is_primary": True,
                    "verified": False,
                    "created_at": iso(self.timestamp),
                }
            }
            user.failed_logins = []
            user.locked_until = None
            user.password_changed_at = None
            user.reset_requests = {}

    class Approved(Aggregate.Event):
        """An operator approved a pending signup."""

        actor_type: str
        actor_id: str

        def apply(self, user: User) -> None:
            user.status = ACTIVE

    class AdminGranted(Aggregate.Event):
        """The user became a server operator."""

        actor_type: str
        actor_id: str

        def apply(self, user: User) -> None:
            user.is_admin = True

    class LoginFailed(Aggregate.Event):
        """A sign-in used a wrong password (legacy: no longer recorded)."""

        def apply(self, user: User) -> None:
            user.failed_logins = [*user.failed_logins, self.timestamp][-FAILED_LOGINS_KEPT:]

    class Locked(Aggregate.Event):
        """Too many failures locked sign-in until `until` (legacy: no longer recorded)."""

        until: datetime

        def apply(self, user: User) -> None:
            user.locked_until = self.until
            user.failed_logins = []

    class LoginFailuresCleared(Aggregate.Event):
        """A successful sign-in reset the failure counter (legacy: no longer recorded)."""

        def apply(self, user: User) -> None:
            user.failed_logins = []
            user.locked_until = None

    class ProfileUpdated(Aggregate.Event):
        """Display fields changed."""

        full_name: str
        bio: str

        def apply(self, user: User) -> None:
            user.full_name = self.full_name
            user.bio = self.bio

    class PasswordChanged(Aggregate.Event):
        """A new password hash replaced the old one (sessions started before are void)."""

        password_hash: str
        actor_type: str
        actor_id: str

        def apply(self, user: User) -> None:
            user.password_hash = self.password_hash
            user.password_changed_at = self.timestamp

    class PasswordResetRequested(Aggregate.Event):
        """A reset link was asked for; the emailed token names `request_id`."""

        request_id: str
        expires_at: datetime

        def apply(self, user: User) -> None:
            user.reset_requests = {**user.reset_requests, self.request_id: self.expires_at}

    class PasswordReset(Aggregate.Event):
        """The password was replaced through a reset token (which is now used up)."""

        request_id: str
        password_hash: str

        def apply(self, user: User) -> None:
            user.password_hash = self.password_hash
            user.password_changed_at = self.timestamp
            user.reset_requests = {}
            user.failed_logins = []
            user.locked_until = None

    class EmailAdded(Aggregate.Event):
        """A secondary email was added (unverified)."""

        email_id: str
        email: str

        def apply(self, user: User) -> None:
            user.emails = {
                **user.emails,
                self.email_id: {
                    "email": self.email,
                    "is_primary": False,
                    "verified": False,
                    "created_at": iso(self.timestamp),
                },
            }

    class EmailVerified(Aggregate.Event):
        """The owner proved control of an email through the emailed link."""

        email_id: str

        def apply(self, user: User) -> None:
            entry = dict(user.emails[self.email_id], verified=True)
            user.emails = {**user.emails, self.email_id: entry}

    class Deleted(Aggregate.Event):
        """The account was closed; it can no longer sign in."""

        actor_type: str
        actor_id: str

        def apply(self, user: User) -> None:
            user.status = DELETED
            user.password_hash = ""

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        username: str
        email: str
        full_name: str
        company: str
        bio: str
        password_hash: str
        status: str
        is_admin: bool
        source: str
        emails: dict[str, dict[str, Any]]
        failed_logins: list[datetime]
        locked_until: datetime | None
        password_changed_at: datetime | None
        reset_requests: dict[str, datetime]

    @classmethod
    def sign_up(
        cls,
        *,
        user_id: Any,
        username: str,
        email: str,
        email_id: str,
        full_name: str,
        company: str,
        password_hash: str,
        active: bool,
        is_admin: bool,
        actor: Actor,
        source: str = "password",
    ) -> User:
        return cls._create(
            cls.SignedUp,
            id=user_id,
            username=username,
            email=email,
            email_id=email_id,
            full_name=full_name,
            company=company,
            password_hash=password_hash,
            status=ACTIVE if active else PENDING,
            is_admin=is_admin,
            source=source,
            actor_type=actor.type,
            actor_id=actor.id,
        )

    # -- state questions -------------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE

    @property
    def is_deleted(self) -> bool:
        return self.status == DELETED

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)

    # -- commands --------------------------------------------------------------------------
    def approve(self, actor: Actor) -> None:
        if self.is_deleted:
            raise NotFound(f"user '{self.username}' not found")
        if self.is_active:
            raise Conflict(f"user '{self.username}' is already active")
        self.trigger_event(self.Approved, actor_type=actor.type, actor_id=actor.id)

    def grant_admin(self, actor: Actor) -> None:
        if not self.is_admin:
            self.trigger_event(self.AdminGranted, actor_type=actor.type, actor_id=actor.id)

    def update_profile(self, *, full_name: str | None, bio: str | None) -> None:
        new_name = self.full_name if full_name is None else full_name
        new_bio = self.bio if bio is None else bio
        if (new_name, new_bio) != (self.full_name, self.bio):
            self.trigger_event(self.ProfileUpdated, full_name=new_name, bio=new_bio)

    def change_password(self, password_hash: str, actor: Actor) -> None:
        self.trigger_event(
            self.PasswordChanged,
            password_hash=password_hash,
            actor_type=actor.type,
            actor_id=actor.id,
        )

    def request_password_reset(self, request_id: str, now: datetime) -> None:
        if not self.is_deleted:
            self.trigger_event(
                self.PasswordResetRequested, request_id=request_id, expires_at=now + RESET_TTL
            )

    def reset_password(self, request_id: str, password_hash: str, now: datetime) -> None:
        expires_at = self.reset_requests.get(request_id)
        if expires_at is None or expires_at <= now or self.is_deleted:
            raise Gone("this password reset link has expired or was already used")
        self.trigger_event(self.PasswordReset, request_id=request_id, password_hash=password_hash)

    def add_email(self, email_id: str, email: str) -> None:
        if any(e["email"] == email for e in self.emails.values()):
            raise Conflict(f"email '{email}' is already on your account", code="EMAIL_TAKEN")
        if len(self.emails) >= 20:
            raise Invalid("an account can have at most 20 emails")
        self.trigger_event(self.EmailAdded, email_id=email_id, email=email)

    def verify_email(self, email_id: str, email: str) -> None:
        entry = self.emails.get(email_id)
        if entry is None or entry["email"] != email:
            raise Gone("this verification link no longer matches an email on the account")
        if not entry["verified"]:
            self.trigger_event(self.EmailVerified, email_id=email_id)

    def delete(self, actor: Actor) -> None:
        if not self.is_deleted:
            self.trigger_event(self.Deleted, actor_type=actor.type, actor_id=actor.id)
