"""The ApiKey aggregate: a bearer credential of a user, role or agent, stored as a hash."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.shared.errors import Invalid
from domain.shared.values import Actor

PREFIXES = {"user": "tuk", "role": "trk", "agent": "tak"}
TOKEN_RE = re.compile(r"^(tuk|trk|tak)-([0-9a-f]{32})_([A-Za-z0-9_-]{20,128})$")
# `last_used_at` is recorded at most this often per key, so a busy key costs no write per call.
USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class ParsedToken:
    """The parts of a presented token: its kind prefix, key id and secret."""

    prefix: str
    key_id: UUID
    secret: str


def parse_token(token: str) -> ParsedToken | None:
    """Split `tuk-<key id hex>_<secret>`; None when the shape is wrong."""
    match = TOKEN_RE.match(token or "")
    if not match:
        return None
    return ParsedToken(match.group(1), UUID(hex=match.group(2)), match.group(3))


def hash_secret(secret: str) -> str:
    """SHA-256 of a high-entropy secret (a slow hash adds nothing for 256-bit random keys)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def format_token(prefix: str, key_id: UUID, secret: str) -> str:
    return f"{prefix}-{key_id.hex}_{secret}"


class ApiKey(Aggregate):
    """A long-lived bearer token; only its hash and last four characters are kept."""

    class Created(Aggregate.Created):
        """A key was issued to a user, role or agent."""

        owner_type: str
        owner_id: str
        organization_id: str
        name: str
        description: str
        secret_hash: str
        token_hint: str
        actor_type: str
        actor_id: str

        def apply(self, key: ApiKey) -> None:
            key.owner_type = self.owner_type
            key.owner_id = self.owner_id
            key.organization_id = self.organization_id
            key.name = self.name
            key.description = self.description
            key.secret_hash = self.secret_hash
            key.token_hint = self.token_hint
            key.created_by = Actor(self.actor_type, self.actor_id)
            key.last_used_at = None
            key.revoked_at = None

    class Used(Aggregate.Event):
        """The key authenticated a request (recorded at most once a minute)."""

        def apply(self, key: ApiKey) -> None:
            key.last_used_at = self.timestamp

    class Revoked(Aggregate.Event):
        """The key was revoked and no longer authenticates."""

        actor_type: str
        actor_id: str

        def apply(self, key: ApiKey) -> None:
            key.revoked_at = self.timestamp

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        owner_type: str
        owner_id: str
        organization_id: str
        name: str
        description: str
        secret_hash: str
        token_hint: str
        created_by: Actor
        last_used_at: datetime | None
        revoked_at: datetime | None

    @classmethod
    def issue(
        cls,
        *,
        key_id: UUID,
        owner_type: str,
        owner_id: str,
        organization_id: str,
        name: str,
        description: str,
        secret: str,
        actor: Actor,
    ) -> tuple[ApiKey, str]:
        """A new key and its token (the token is returned once and never stored)."""
        if owner_type not in PREFIXES:
            raise Invalid(f"unknown key owner type '{owner_type}'")
        token = format_token(PREFIXES[owner_type], key_id, secret)
        key = cls._create(
            cls.Created,
            id=key_id,
            owner_type=owner_type,
            owner_id=owner_id,
            organization_id=organization_id,
            name=name,
            description=description,
            secret_hash=hash_secret(secret),
            token_hint=token[-4:],
            actor_type=actor.type,
            actor_id=actor.id,
        )
        return key, token

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def matches(self, parsed: ParsedToken) -> bool:
        """Whether a presented token is this key's (constant-time comparison)."""
        return PREFIXES.get(self.owner_type) == parsed.prefix and hmac.compare_digest(
            self.secret_hash, hash_secret(parsed.secret)
        )

    def note_used(self, now: datetime) -> bool:
        """Record use when the last record is older than the resolution. True if recorded."""
        if self.last_used_at is not None and now - self.last_used_at < USED_RESOLUTION:
            return False
        self.trigger_event(self.Used, timestamp=now)
        return True

    def revoke(self, actor: Actor) -> None:
        if not self.is_revoked:
            self.trigger_event(self.Revoked, actor_type=actor.type, actor_id=actor.id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "owner_type": self.owner_type,
            "owner_id": self.owner_id,
            "name": self.name,
            "description": self.description,
            "token_hint": self.token_hint,
        }
