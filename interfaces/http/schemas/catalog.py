"""Catalog wire models and the shapes the SDK parses."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from pydantic import Field

from domain.catalog.repository import Repository
from domain.shared.values import parse_iso, stamp
from interfaces.http.schemas.base import Lenient, Strict

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


def commit_log(row: dict[str, Any], retention_days: int, now: Any) -> dict[str, Any]:
    """The wire CommitLog of a catalog_commits row."""
    created = parse_iso(row["creation_date"])
    stale = created is not None and created < now - timedelta(days=retention_days)
    return {
        "id": row["id"],
        "committer": row["committer"],
        "committer_type": row["committer_type"],
        "committer_id": row["committer_id"],
        "message": row["message"],
        "creation_date": row["creation_date"],
        "parents": json.loads(row["parents"]),
        "metadata": json.loads(row["metadata"]),
        "is_stale": stale,
    }
