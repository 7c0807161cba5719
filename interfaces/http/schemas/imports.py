"""Imports wire models: the spec's StartImportRequest, its 202 body, and ImportJob."""

from __future__ import annotations

from typing import Any

from interfaces.http.schemas.base import Lenient, Out


class StartImportRequest(Lenient):
    """Exactly one of `connector_id` or `source_organization` + `source_repository`."""

    connector_id: str | None = None
    source_organization: str | None = None
    source_repository: str | None = None
    destination_path: str | None = None
    source_prefix: str | None = None
    commit_message: str | None = None


class StartImportResponse(Out):
    job_id: str


class ImportJobOut(Out):
    """The spec's ImportJob."""

    id: str
    repository_id: str
    connector_id: str | None
    source_repository_id: str | None
    source_organization: str
    source_repository: str
    destination_path: str
    source_prefix: str
    commit_message: str
    status: str
    objects_imported: int
    commit_id: str
    error: str
    created_by_type: str
    created_by: str
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> ImportJobOut:
        return cls(**{name: row[name] for name in cls.model_fields})
