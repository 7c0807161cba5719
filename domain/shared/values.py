"""Small value helpers: timestamps in the wire format, actors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(tz=UTC)


def iso(value: datetime | None) -> str | None:
    """RFC 3339 with microseconds and a `Z`, so strings sort like the instants they name."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def stamp(value: datetime) -> str:
    """`iso` for a value that is always there."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str | None) -> datetime | None:
    """Inverse of `iso` (accepts any RFC 3339 offset)."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class Actor:
    """Who performed an action: a user, role, agent, or the operator (CLI)."""

    type: str
    id: str

    @classmethod
    def operator(cls) -> Actor:
        return cls(type="operator", id="")

    @classmethod
    def system(cls) -> Actor:
        return cls(type="system", id="")
