"""The SandboxCredential aggregate: the short-lived `tst-` tokens code inside one sandbox fetches
from its credentials endpoint, stored as hashes and revoked together when the sandbox ends."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.identity.api_key import hash_secret
from domain.shared.errors import Gone, Invalid
from domain.shared.ids import derived_id
from domain.shared.values import parse_iso, stamp

PREFIX = "tst"
TOKEN_RE = re.compile(r"tst-([0-9a-f]{32})_([A-Za-z0-9_-]{20,128})")
# COMPAT §5.9: the SDK refetches two minutes before expiry; Tilde's tests use 900 s.
MAX_TTL = timedelta(minutes=15)
MIN_TTL = timedelta(minutes=3)
PRINCIPAL_TYPES = ("user", "role", "agent")


@dataclass(frozen=True)
class SandboxToken:
    """A presented `tst-` token: the credential (one per sandbox) and the secret."""

    credential_id: UUID
    secret: str


def parse_sandbox_token(token: str) -> SandboxToken | None:
    """Split `tst-<credential id hex>_<secret>`; None when the shape is wrong."""
    match = TOKEN_RE.fullmatch(token or "")
    return SandboxToken(UUID(hex=match.group(1)), match.group(2)) if match else None


def format_sandbox_token(credential_id: UUID, secret: str) -> str:
    return f"{PREFIX}-{credential_id.hex}_{secret}"


def credential_id(sandbox_id: str) -> UUID:
    """The one credential of a sandbox (so every worker and API process finds it)."""
    return derived_id("sandbox-credential", sandbox_id)


def token_ttl(requested: timedelta) -> timedelta:
    """A lifetime within [3 min, 15 min]: long enough for the SDK's 2-minute early refetch."""
    return max(MIN_TTL, min(MAX_TTL, requested))


class SandboxCredential(Aggregate):
    """Who a sandbox's tokens act as (its `run_as` principal, else its creator), the hashes of
    the live tokens with their expiries, and whether the sandbox has ended (all revoked)."""

    class Created(Aggregate.Created):
        """The sandbox fetched its first token."""

        sandbox_id: str
        organization_id: str
        principal_type: str
        principal_id: str

        def apply(self, credential: SandboxCredential) -> None:
            credential.sandbox_id = self.sandbox_id
            credential.organization_id = self.organization_id
            credential.principal_type = self.principal_type
            credential.principal_id = self.principal_id
            credential.tokens = {}
            credential.revoked_at = None

    class TokenIssued(Aggregate.Event):
        """A token was handed to the sandbox (only its hash is kept); expired ones are dropped."""

        secret_hash: str
        expires_at: str

        def apply(self, credential: SandboxCredential) -> None:
            now = stamp(self.timestamp)
            credential.tokens = {
                digest: expiry for digest, expiry in credential.tokens.items() if expiry > now
            }
            credential.tokens[self.secret_hash] = self.expires_at

    class Revoked(Aggregate.Event):
        """The sandbox ended: none of its tokens authenticates any more."""

        reason: str

        def apply(self, credential: SandboxCredential) -> None:
            credential.revoked_at = self.timestamp
            credential.tokens = {}

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        sandbox_id: str
        organization_id: str
        principal_type: str
        principal_id: str
        tokens: dict[str, str]
        revoked_at: datetime | None

    @classmethod
    def open(
        cls, *, sandbox_id: str, organization_id: str, principal_type: str, principal_id: str
    ) -> SandboxCredential:
        if principal_type not in PRINCIPAL_TYPES or not principal_id:
            raise Invalid(f"a sandbox cannot act as '{principal_type}'")
        return cls._create(
            cls.Created,
            id=credential_id(sandbox_id),
            sandbox_id=sandbox_id,
            organization_id=organization_id,
            principal_type=principal_type,
            principal_id=principal_id,
        )

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def issue(self, secret: str, now: datetime, ttl: timedelta) -> tuple[str, datetime]:
        """A new token and its expiry; refused once the sandbox has ended."""
        if self.is_revoked:
            raise Gone("the sandbox has ended: its credentials are revoked")
        expires_at = now + token_ttl(ttl)
        self.trigger_event(
            self.TokenIssued,
            timestamp=now,
            secret_hash=hash_secret(secret),
            expires_at=stamp(expires_at),
        )
        return format_sandbox_token(self.id, secret), expires_at

    def expiry(self, token: SandboxToken, now: datetime) -> datetime | None:
        """When the presented token expires, or None when it does not authenticate (unknown,
        expired or revoked). Constant-time over the live hashes."""
        if self.is_revoked or token.credential_id != self.id:
            return None
        presented = hash_secret(token.secret)
        found: str | None = None
        for digest, expiry in self.tokens.items():
            if hmac.compare_digest(digest, presented):
                found = expiry
        expires_at = parse_iso(found)
        return expires_at if expires_at is not None and expires_at > now else None

    def revoke(self, reason: str) -> bool:
        """End every token; False when already revoked (idempotent)."""
        if self.is_revoked:
            return False
        self.trigger_event(self.Revoked, reason=reason)
        return True
