"""Wire models of the operator's and the auditor's views (outside the official spec)."""

from __future__ import annotations

from typing import Any

from interfaces.http.schemas.base import Out, Pagination


class AdminUser(Out):
    """A user as the operator lists it."""

    id: str
    username: str
    email: str
    full_name: str
    status: str
    is_admin: bool
    created_at: str
    approved_at: str | None


class AdminUserList(Out):
    results: list[AdminUser]
    pagination: Pagination


class AuditEntry(Out):
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


class AuditLog(Out):
    results: list[AuditEntry]
    pagination: Pagination
