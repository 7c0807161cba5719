"""Credential commands: password login with lockout, Basic/Bearer/session authentication, keys."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from uuid import uuid4

from eventsourcing.persistence import IntegrityError

from application.base import Result
from application.identity.passwords import PasswordChecks
from application.principal import Principal
from domain.identity.api_key import USED_RESOLUTION, ApiKey, parse_token
from domain.identity.login_session import LoginSession
from domain.identity.rules import clean_text
from domain.identity.user import User
from domain.shared.errors import Invalid, NotFound
from domain.shared.values import Actor

# The logs a verified key's principal is derived from (the key and user; a role's or agent's).
CREDENTIAL_LOGS = ("identity", "organizations")
KEY_NAME_MAX = 200
KEY_DESCRIPTION_MAX = 1000


class CredentialCommands(PasswordChecks):
    """Signing in, authenticating requests, and issuing or revoking API keys."""

    # -- login form -----------------------------------------------------------------------
    def login(
        self, login: object, password: object, *, ip: str, user_agent: str = ""
    ) -> Result[tuple[User, LoginSession]]:
        """Verify a password and start a login session (the HTTP layer sets the cookies)."""
        if not isinstance(login, str) or not login.strip():
            raise Invalid("login is required")
        if not isinstance(password, str) or not password:
            raise Invalid("password is required")
        user = self._check_password(login.strip(), password, ip)
        session = self._new_session(str(user.id), ip, user_agent)

        def command() -> Result[tuple[User, LoginSession]]:
            fresh = self.user(user.id)
            assert fresh is not None
            if self.hasher.needs_rehash(fresh.password_hash):
                fresh.change_password(self.hasher.hash(password), Actor("user", str(fresh.id)))
            return Result((fresh, session), (self.record(fresh, session),))

        return self.retrying(command)

    def _new_session(self, user_id: str, ip: str, user_agent: str) -> LoginSession:
        return LoginSession._create(
            LoginSession.Started,
            id=uuid4(),
            user_id=user_id,
            expires_at=self.clock() + self.policy.session_ttl,
            ip=ip[:64],
            user_agent=user_agent[:256],
        )

    def start_session(self, user_id: str, *, ip: str, user_agent: str = "") -> Result[LoginSession]:
        """A fresh session for an already authenticated user (after a password change)."""
        session = self._new_session(user_id, ip, user_agent)
        return Result(session, (self.record(session),))

    def logout(self, session_id: str) -> Result[None]:
        session = self.login_session(session_id)
        if session is None or session.ended:
            return Result(None)
        session.end("logout")
        return Result(None, (self.record(session),))

    # -- request authentication -----------------------------------------------------------
    def authenticate_basic(self, login: str, password: str, ip: str) -> Principal:
        """HTTP Basic: username or email + password (verified results cached briefly)."""
        cache_key = f"{login}\0{hashlib.sha256(password.encode()).hexdigest()}"
        cached_hash = self.basic_cache.get(cache_key)
        if cached_hash is not None:
            user = self.user_by_login(login)
            if user is not None and user.is_active and user.password_hash == cached_hash:
                return self._user_principal(user, via="basic")
            self.basic_cache.pop(cache_key)
        # Not remembered: the guard (address budget, locks) runs before any hashing; only
        # failures spend the budget, so a client's repeated good credentials are not throttled.
        user = self._check_password(login, password, ip, count_success=False)
        self.basic_cache.put(cache_key, user.password_hash)
        return self._user_principal(user, via="basic")

    def remembered_bearer(self, token: str) -> Principal | None:
        """The principal of a key verified under the current generations of the logs and used
        within the last minute, from memory alone (no I/O); None when that needs the store."""
        generation = self.log_watch.current_without_io(CREDENTIAL_LOGS)
        if generation is None:
            return None  # a head check is due: only the I/O path may answer
        return self._remembered(hashlib.sha256(token.encode()).hexdigest(), generation)

    def _remembered(self, digest: str, generation: tuple[int, ...]) -> Principal | None:
        remembered = self.bearer_cache.get(digest)
        if remembered is not None and remembered[0] == generation:
            _, principal, noted = remembered
            # Within a minute of the last recorded use nothing needs writing either.
            if self.clock() - noted < USED_RESOLUTION:
                return principal  # type: ignore[no-any-return]
        return None

    def authenticate_bearer(self, token: str) -> Principal | None:
        """An API key's principal, or None when the key is unknown, wrong or revoked.

        A verified key is remembered under the generations of the identity and organizations
        logs read *before* verifying it (`LogWatch`), so a revocation that lands while it is
        being verified marks the entry stale at once; local saves, NOTIFY and the periodic
        head check move the generations, so revocations apply within the watch's bound."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        generation = self.log_watch.current(CREDENTIAL_LOGS)
        principal = self._remembered(digest, generation)
        if principal is not None:
            return principal
        principal = self._authenticate_bearer(token)
        if principal is not None:
            self.bearer_cache.put(digest, (generation, principal, self.clock()))
        return principal

    def _authenticate_bearer(self, token: str) -> Principal | None:
        parsed = parse_token(token)
        if parsed is None:
            return None
        key = self.api_key(parsed.key_id)
        if key is None or key.is_revoked or not key.matches(parsed):
            return None
        if key.owner_type == "user":
            user = self.user(key.owner_id)
            if user is None or not user.is_active:
                return None
            principal: Principal | None = self._user_principal(
                user, via="bearer", key_id=str(key.id)
            )
        else:
            resolver = self.key_owner_resolvers.get(key.owner_type)
            principal = resolver(key) if resolver else None
        if principal is not None:
            self._note_key_used(key)
        return principal

    def authenticate_session(self, session_id: str, user_id: str) -> Principal | None:
        """A browser session's user, unless it ended, expired or predates a password change."""
        session = self.login_session(session_id)
        now = self.clock()
        if session is None or not session.is_valid(now) or session.user_id != user_id:
            return None
        user = self.user(user_id)
        if user is None or not user.is_active:
            return None
        if user.password_changed_at is not None and session.created_on < user.password_changed_at:
            return None
        return self._user_principal(user, via="cookie", login_session_id=session_id)

    def _user_principal(
        self, user: User, *, via: str, key_id: str = "", login_session_id: str = ""
    ) -> Principal:
        return Principal(
            type="user",
            id=str(user.id),
            name=user.username,
            via=via,
            key_id=key_id,
            login_session_id=login_session_id,
            is_admin=user.is_admin,
        )

    def _note_key_used(self, key: ApiKey) -> None:
        # Best effort: a lost race only means another request recorded the use first.
        if key.note_used(self.clock()):
            with contextlib.suppress(IntegrityError):
                self.record(key)

    # -- API keys -------------------------------------------------------------------------
    def create_api_key(
        self,
        *,
        owner_type: str,
        owner_id: str,
        name: object,
        description: object = "",
        organization_id: str = "",
        actor: Actor,
    ) -> Result[tuple[ApiKey, str]]:
        """Issue a key; the token is in the result once and never stored."""
        key_name = clean_text(name, "name", required=True, limit=KEY_NAME_MAX)
        key_description = clean_text(
            description, "description", required=False, limit=KEY_DESCRIPTION_MAX
        )
        key, token = ApiKey.issue(
            key_id=uuid4(),
            owner_type=owner_type,
            owner_id=owner_id,
            organization_id=organization_id,
            name=key_name,
            description=key_description,
            secret=secrets.token_urlsafe(32),
            actor=actor,
        )
        return Result((key, token), (self.record(key),))

    def owned_key(self, key_id: str, *, owner_type: str, owner_id: str) -> ApiKey:
        key = self.api_key(key_id)
        if key is None or key.owner_type != owner_type or key.owner_id != owner_id:
            raise NotFound("API key not found")
        return key

    def revoke_api_key(
        self, key_id: str, *, owner_type: str, owner_id: str, actor: Actor
    ) -> Result[ApiKey]:
        def command() -> Result[ApiKey]:
            key = self.owned_key(key_id, owner_type=owner_type, owner_id=owner_id)
            if key.is_revoked:
                return Result(key)  # revoking twice is a no-op
            key.revoke(actor)
            return Result(key, (self.record(key),))

        return self.retrying(command)
