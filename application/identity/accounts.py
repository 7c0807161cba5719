"""Account commands: signup, approval, profile, password, emails, deletion."""

from __future__ import annotations

from uuid import uuid4

from eventsourcing.persistence import IntegrityError

from application.base import Result
from application.identity.passwords import PasswordChecks
from domain.identity.errors import EmailTaken, UsernameTaken
from domain.identity.rules import (
    BIO_MAX,
    check_password,
    clean_text,
    normalize_email,
    normalize_username,
)
from domain.identity.user import User
from domain.shared.errors import Conflict, Invalid, NotFound
from domain.shared.ids import index_id
from domain.shared.index import IndexEntry
from domain.shared.values import Actor

RESET_REQUESTS_PER_HOUR = 3


class AccountCommands(PasswordChecks):
    """Creating and maintaining user accounts."""

    def _claim(self, kind: str, key: str, owner_id: str) -> IndexEntry:
        """A new or re-taken index entry for `key`; raises Conflict when someone holds it."""
        entry = self.find(index_id(kind, key), IndexEntry)
        if entry is None:
            return IndexEntry.claim(kind, key, owner_id)
        if not entry.is_free:
            raise Conflict(f"{kind} '{key}' is taken")
        entry.reclaim(owner_id)
        return entry

    def _raise_if_taken(self, username: str, email: str) -> None:
        if self.index_owner("username", username):
            raise UsernameTaken(f"username '{username}' is already taken")
        if self.index_owner("email", email):
            raise EmailTaken(f"email '{email}' is already registered")

    def signup(
        self,
        *,
        username: object,
        email: object,
        full_name: object,
        password: object,
        company: object = "",
        is_admin: bool = False,
        actor: Actor | None = None,
    ) -> Result[User]:
        """Create an account: pending, or active when auto-approved or invited."""
        username = normalize_username(username)
        email = normalize_email(email)
        full_name = clean_text(full_name, "full_name", required=True)
        company = clean_text(company, "company", required=False)
        password = check_password(password)
        self._raise_if_taken(username, email)
        active = is_admin or self.policy.auto_approve_signups or self.has_open_invitation(email)
        user_id = uuid4()
        user = User.sign_up(
            user_id=user_id,
            username=username,
            email=email,
            email_id=str(uuid4()),
            full_name=full_name,
            company=company,
            password_hash=self.hasher.hash(password),
            active=active,
            is_admin=is_admin,
            actor=actor or Actor("user", str(user_id)),
        )
        try:
            claims = [
                self._claim("username", username, str(user_id)),
                self._claim("email", email, str(user_id)),
            ]
            written = self.record(user, *claims)
        except (IntegrityError, Conflict):
            # Lost a race for the username or email: say which one.
            self._raise_if_taken(username, email)
            raise Conflict("the account could not be created; retry") from None
        return Result(user, (written,))

    def create_admin(
        self, *, username: str, email: str, full_name: str, password: str
    ) -> Result[User]:
        """Bootstrap an operator: a new active admin, or promote an existing username."""
        existing = self.user_by_login(username)
        if existing is None:
            return self.signup(
                username=username,
                email=email,
                full_name=full_name,
                password=password,
                is_admin=True,
                actor=Actor.operator(),
            )
        if existing.is_deleted:
            raise Conflict(f"user '{username}' was deleted")
        existing.grant_admin(Actor.operator())
        if not existing.is_active:
            existing.approve(Actor.operator())
        return Result(existing, (self.record(existing),))

    def approve(self, login: str, actor: Actor) -> Result[User]:
        """An operator lets a pending signup sign in (the approval email follows)."""

        def command() -> Result[User]:
            user = self.user_by_login(login) or self.user(login)
            if user is None or user.is_deleted:
                raise NotFound(f"user '{login}' not found")
            user.approve(actor)
            return Result(user, (self.record(user),))

        return self.retrying(command)

    def update_profile(
        self, user_id: str, *, full_name: object = None, bio: object = None
    ) -> Result[User]:
        name = None if full_name is None else clean_text(full_name, "full_name", required=True)
        text = (
            None
            if bio is None
            else clean_text(bio, "bio", required=False, limit=BIO_MAX, multiline=True)
        )

        def command() -> Result[User]:
            user = self._live_user(user_id)
            user.update_profile(full_name=name, bio=text)
            return Result(user, (self.record(user),))

        return self.retrying(command)

    def change_password(
        self,
        user_id: str,
        *,
        current_password: object,
        new_password: object,
        actor: Actor,
        ip: str = "",
    ) -> Result[User]:
        new = check_password(new_password)
        user = self._live_user(user_id)
        if user.has_password:
            if not isinstance(current_password, str) or not current_password:
                raise Invalid("current_password is required to change the password")
            self._confirm_password(user, current_password, ip, "current_password is incorrect")
        password_hash = self.hasher.hash(new)

        def command() -> Result[User]:
            fresh = self._live_user(user_id)
            fresh.change_password(password_hash, actor)
            return Result(fresh, (self.record(fresh),))

        result = self.retrying(command)
        self.basic_cache.clear()
        return result

    def request_password_reset(self, email: object) -> Result[None]:
        """Always succeeds (no account enumeration); emails a link when the account exists."""
        try:
            address = normalize_email(email)
        except Invalid:
            raise Invalid("email is not a valid address") from None
        user = self.user_by_login(address)
        if user is None or user.is_deleted:
            return Result(None)
        if self.limiter.hit(f"reset:{user.id}", limit=RESET_REQUESTS_PER_HOUR, window_seconds=3600):
            return Result(None)
        user.request_password_reset(uuid4().hex, self.clock())
        return Result(None, (self.record(user),))

    def reset_token(self, user_id: str, request_id: str) -> str:
        """The token a reset email carries (derived, so no secret is ever stored)."""
        return self.signer.sign("reset", f"{user_id}:{request_id}", ttl_seconds=3600)

    def reset_password(self, token: object, password: object) -> Result[User]:
        if not isinstance(token, str) or not token:
            raise Invalid("token is required")
        new = check_password(password)
        payload = self.signer.verify("reset", token)
        if payload is None or payload.count(":") != 1:
            raise Invalid("the reset token is not valid")
        user_id, request_id = payload.split(":")
        password_hash = self.hasher.hash(new)

        def command() -> Result[User]:
            user = self._live_user(user_id)
            user.reset_password(request_id, password_hash, self.clock())
            return Result(user, (self.record(user),))

        result = self.retrying(command)
        self.basic_cache.clear()
        self.unlock_account(result.value)
        return result

    def add_email(self, user_id: str, email: object) -> Result[dict[str, object]]:
        address = normalize_email(email)
        owner = self.index_owner("email", address)
        if owner == user_id:
            raise EmailTaken(f"email '{address}' is already on your account")
        if owner:
            raise EmailTaken(f"email '{address}' is already registered")
        user = self._live_user(user_id)
        email_id = str(uuid4())
        user.add_email(email_id, address)
        try:
            written = self.record(user, self._claim("email", address, user_id))
        except (IntegrityError, Conflict):
            raise EmailTaken(f"email '{address}' is already registered") from None
        return Result({"id": email_id, "user_id": user_id, **user.emails[email_id]}, (written,))

    def verification_token(self, user_id: str, email_id: str, email: str) -> str:
        return self.signer.sign(
            "verify-email", f"{user_id}:{email_id}:{email}", ttl_seconds=7 * 24 * 3600
        )

    def verify_email(self, token: object) -> Result[User]:
        payload = self.signer.verify("verify-email", token) if isinstance(token, str) else None
        if payload is None or payload.count(":") != 2:
            raise Invalid("the verification token is not valid or has expired")
        user_id, email_id, email = payload.split(":")

        def command() -> Result[User]:
            user = self._live_user(user_id)
            user.verify_email(email_id, email)
            return Result(user, (self.record(user),))

        return self.retrying(command)

    def delete_account(
        self, user_id: str, *, password: object, actor: Actor, ip: str = ""
    ) -> Result[None]:
        user = self._live_user(user_id)
        if user.has_password:
            self._confirm_password(
                user, password, ip, "password is required and must be correct to delete the account"
            )
        user.delete(actor)
        self.basic_cache.clear()
        return Result(None, (self.record(user),))

    def _live_user(self, user_id: str) -> User:
        user = self.user(user_id)
        if user is None or user.is_deleted:
            raise NotFound("user not found")
        return user
