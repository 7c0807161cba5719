"""Shared state of the identity Application: its ports, policy knobs and lookups."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from application.base import TildeApplication
from application.cache import LogWatch, TTLCache
from application.ports import PasswordHasher, RateLimiter, TokenSigner
from domain.identity.api_key import ApiKey
from domain.identity.device_authorization import DeviceAuthorization
from domain.identity.login_session import LoginSession
from domain.identity.rules import looks_like_email
from domain.identity.sandbox_credential import SandboxCredential
from domain.identity.user import User
from domain.shared.ids import index_id
from domain.shared.index import IndexEntry


@dataclass(frozen=True)
class IdentityPolicy:
    """Tunable identity rules (the README's TILDE_* table documents each)."""

    login_attempts_per_ip: int = 10
    login_ip_window: timedelta = timedelta(minutes=1)
    # Failures from one address lock the account for that address; the account-wide lock
    # (everyone refused) needs failures from many addresses, so one attacker cannot lock
    # a victim out by guessing.
    lockout_threshold: int = 10
    lockout_account_threshold: int = 100
    lockout_window: timedelta = timedelta(minutes=15)
    lockout_duration: timedelta = timedelta(minutes=15)
    session_ttl: timedelta = timedelta(days=14)
    auto_approve_signups: bool = False
    device_code_ttl: timedelta = timedelta(minutes=10)
    device_poll_interval: int = 5


class IdentityBase(TildeApplication):
    """Ports and lookups the identity command mixins share."""

    snapshotting_intervals = {User: 50, ApiKey: 200, SandboxCredential: 50}

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        hasher: PasswordHasher,
        limiter: RateLimiter,
        signer: TokenSigner,
        policy: IdentityPolicy | None = None,
        has_open_invitation: Callable[[str], bool] | None = None,
        log_watch: LogWatch | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, **kwargs)
        self.hasher = hasher
        self.limiter = limiter
        self.signer = signer
        self.policy = policy or IdentityPolicy()
        # Set by the organizations context: does an open invitation name this email?
        self.has_open_invitation = has_open_invitation or (lambda _email: False)
        # (login, sha256(password)) -> password hash that verified, so Basic auth does not
        # pay for argon2 on every request; invalidated when the hash changes.
        self.basic_cache: TTLCache[str] = TTLCache(maxsize=10_000, ttl=300)
        # Hashing a throwaway password keeps "unknown user" as slow as "wrong password".
        self._dummy_hash = hasher.hash("timing-equalizer-not-a-real-password")
        # Verified Bearer tokens (sha256 -> log generations, principal, verified at), valid
        # while those generations are current (see `LogWatch`).
        self.bearer_cache: TTLCache[tuple[tuple[int, ...], Any, Any]] = TTLCache(
            maxsize=10_000, ttl=300
        )
        self.log_watch = log_watch or LogWatch()
        # Recording a key's use revokes nothing: it must not drop every process's caches.
        self.log_watch.ignore(get_topic(ApiKey.Used))
        # Nor does handing a sandbox another token (only its revocation does).
        self.log_watch.ignore(
            get_topic(SandboxCredential.Created), get_topic(SandboxCredential.TokenIssued)
        )
        # Resolvers for role and agent keys, registered by the organizations context.
        self.key_owner_resolvers: dict[str, Callable[[ApiKey], Any]] = {}
        # The live role or agent (type, id, organization id) a sandbox acts as; registered by
        # the organizations context.
        self.owner_principal: Callable[[str, str, str], Any] | None = None
        # Verified sandbox tokens (sha256 -> log generations, principal, token expiry).
        self.sandbox_token_cache: TTLCache[tuple[tuple[int, ...], Any, Any]] = TTLCache(
            maxsize=10_000, ttl=300
        )

    # -- lookups -------------------------------------------------------------------------
    def index_owner(self, kind: str, key: str) -> str | None:
        entry = self.find(index_id(kind, key), IndexEntry)
        return entry.owner_id if entry is not None and not entry.is_free else None

    def user_by_login(self, login: str) -> User | None:
        """The user named by a username or an email (primary or secondary), if any."""
        login = (login or "").strip()
        if not login:
            return None
        owner = (
            self.index_owner("email", login.lower())
            if looks_like_email(login)
            else self.index_owner("username", login.lower())
        )
        return self.user(owner) if owner else None

    def user(self, user_id: str | UUID) -> User | None:
        try:
            uid = user_id if isinstance(user_id, UUID) else UUID(str(user_id))
        except ValueError:
            return None
        return self.find(uid, User)

    def api_key(self, key_id: str | UUID) -> ApiKey | None:
        try:
            kid = key_id if isinstance(key_id, UUID) else UUID(str(key_id))
        except ValueError:
            return None
        return self.find(kid, ApiKey)

    def login_session(self, session_id: str | UUID) -> LoginSession | None:
        try:
            sid = session_id if isinstance(session_id, UUID) else UUID(str(session_id))
        except ValueError:
            return None
        return self.find(sid, LoginSession)

    def device_authorization(self, auth_id: UUID) -> DeviceAuthorization | None:
        return self.find(auth_id, DeviceAuthorization)
