"""Ports: the Protocols adapters in `infra/` implement for the application layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class PasswordHasher(Protocol):
    """A slow, salted password hash (argon2id in production)."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...


class RateLimiter(Protocol):
    """Counts hits per key in a sliding window."""

    def hit(self, key: str, *, limit: int, window_seconds: int) -> int:
        """Record one hit; 0 when allowed, else seconds until the next hit would be allowed."""
        ...

    def reset(self, key: str) -> None: ...


class TokenSigner(Protocol):
    """Signs short payloads with the server secret (reset links, verification links)."""

    def sign(self, purpose: str, payload: str, *, ttl_seconds: int) -> str: ...

    def verify(self, purpose: str, token: str) -> str | None:
        """The payload of a valid, unexpired token for `purpose`, else None."""
        ...


@dataclass(frozen=True)
class EmailMessage:
    """An outgoing email; `message_id` makes delivery idempotent."""

    message_id: str
    to: str
    subject: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class Mailer(Protocol):
    """Delivers email (SMTP in production, `.eml` files when embedded)."""

    def send(self, message: EmailMessage) -> None: ...
