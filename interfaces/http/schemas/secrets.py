"""Secrets on the wire: the spec's PutSecretRequest, SecretListEntry and SecretValueResponse."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from interfaces.http.schemas.base import Lenient, Out


class PutSecretRequest(Lenient):
    """`{"value": "…"}`: non-empty, at most 64 KiB of UTF-8 (checked by the domain rule)."""

    value: str = Field(min_length=1)

    def __repr__(self) -> str:
        return "PutSecretRequest(value=[redacted])"

    __str__ = __repr__


class SecretKey(Out):
    key: str


class SecretListEntry(Out):
    key: str
    created_by_type: str
    created_by: str
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> SecretListEntry:
        return cls(**row)


class SecretList(Out):
    """No pagination: the SDK reads a secrets listing as one page."""

    results: list[SecretListEntry]


class SecretValueResponse(Out):
    key: str
    value: str

    def __repr__(self) -> str:
        return f"SecretValueResponse(key={self.key!r}, value=[redacted])"

    __str__ = __repr__
