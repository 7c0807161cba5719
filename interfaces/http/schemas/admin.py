"""Wire models of the operator's and the auditor's views (outside the official spec); msgspec
structs, as the catalog's listings: a page holds up to 1,000 rows."""

from __future__ import annotations

from typing import Any, Self

import msgspec

from interfaces.http.schemas.base import Pagination


class AdminUser(msgspec.Struct):
    """A user as the operator lists it."""

    id: str
    username: str
    email: str
    full_name: str
    status: str
    is_admin: bool
    created_at: str
    approved_at: str | None


class AdminUserList(msgspec.Struct):
    results: list[AdminUser]
    pagination: Pagination

    @classmethod
    def of(cls, page: dict[str, Any]) -> Self:
        return cls(
            results=msgspec.convert(page["results"], list[AdminUser], strict=False),
            pagination=Pagination(**page["pagination"]),
        )


class AuditEntry(msgspec.Struct):
    """One recorded event, redacted; `cursor` resumes a listing after it."""

    id: str
    occurred_at: str
    actor_type: str
    actor_id: str
    actor_name: str
    event_type: str
    resource_type: str
    resource_id: str
    data: dict[str, Any]
    cursor: str


class AuditLog(msgspec.Struct):
    results: list[AuditEntry]
    pagination: Pagination

    @classmethod
    def of(cls, page: dict[str, Any]) -> Self:
        return cls(
            results=msgspec.convert(page["results"], list[AuditEntry]),
            pagination=Pagination(**page["pagination"]),
        )
