"""Catalog wire models and the shapes the SDK parses."""

from __future__ import annotations

import json
from typing import Any, Self

import msgspec
from pydantic import Field

from domain.catalog.repository import Repository
from domain.shared.values import stamp
from interfaces.http.schemas.base import Lenient, Out, Pagination, Strict

REPOSITORY_FIELDS = (
    "description",
    "visibility",
    "retention_days",
    "session_max_duration_days",
    "agents_require_approval",
)


class CommitRequest(Lenient):
    message: str | None = None
    metadata: dict[str, str] | None = None


class RevertRequest(Lenient):
    message: str | None = None
    metadata: dict[str, str] | None = None


class FinalizeRequest(Lenient):
    upload_token: str
    checksum: str | None = None
    content_type: str | None = None
    size_bytes: int | None = None
    metadata: dict[str, str] | None = None


class CompletedPartIn(Lenient):
    part_number: int = Field(ge=1, le=10_000)
    etag: str


class CompleteRequest(Lenient):
    upload_id: str
    upload_token: str
    parts: list[CompletedPartIn]
    content_type: str | None = None
    size_bytes: int | None = None
    checksum: str | None = None
    metadata: dict[str, str] | None = None


class BulkDeleteRequest(Strict):
    paths: list[str] = Field(min_length=1, max_length=1000)


def repository_of(repo: Repository) -> dict[str, Any]:
    """The wire Repository from the aggregate (consistent right after a write)."""
    settings = repo.settings
    out: dict[str, Any] = {
        "id": str(repo.id),
        "organization_id": repo.organization_id,
        "name": repo.name,
        **{k: settings.get(k) for k in REPOSITORY_FIELDS},
        "created_by_type": repo.created_by.type,
        "created_by": repo.created_by.id,
        "created_at": stamp(repo.created_on),
    }
    for key, value in settings.items():
        out.setdefault(key, value)
    return out


class CreateSessionResponse(Out):
    session_id: str


class CommitSessionResponse(Out):
    commit_id: str


class ApprovalRequiredResponse(Out):
    """The 202 of a commit that waits for a human's approval."""

    approval_required: bool
    session_id: str
    message: str
    api_url: str
    web_url: str


class CommitLog(msgspec.Struct):
    id: str
    committer: str
    committer_type: str
    committer_id: str
    message: str
    creation_date: str
    parents: list[str]
    metadata: dict[str, str]
    is_stale: bool


class CommitLogList(msgspec.Struct):
    """A log page (msgspec, as the object listings: up to 1,000 commits a page)."""

    results: list[CommitLog]
    pagination: Pagination

    @classmethod
    def of(cls, page: dict[str, Any]) -> Self:
        return cls(
            results=msgspec.convert(page["results"], list[CommitLog]),
            pagination=Pagination(**page["pagination"]),
        )


def commit_log(row: dict[str, Any]) -> dict[str, Any]:
    """The wire CommitLog of a commit row from CatalogQueries (which decides `is_stale`)."""
    return {
        "id": row["id"],
        "committer": row["committer"],
        "committer_type": row["committer_type"],
        "committer_id": row["committer_id"],
        "message": row["message"],
        "creation_date": row["creation_date"],
        "parents": json.loads(row["parents"]),
        "metadata": json.loads(row["metadata"]),
        "is_stale": bool(row["is_stale"]),
    }
