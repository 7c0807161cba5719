"""Repository wire models: exactly the spec's fields, whatever a client sent or a view keeps."""

from __future__ import annotations

from typing import Any, Self

from domain.catalog import repository as aggregate
from domain.shared.values import stamp
from interfaces.http.schemas.base import Out, Pagination
from interfaces.http.schemas.catalog import REPOSITORY_FIELDS


class Repository(Out):
    """The spec's Repository plus the documented `session_max_duration_days` and
    `agents_require_approval`: nothing else a client sent, no internal cursor."""

    id: str
    organization_id: str
    name: str
    description: str | None
    visibility: str | None
    retention_days: int | None
    session_max_duration_days: int | None
    agents_require_approval: bool | None
    created_by_type: str
    created_by: str
    created_at: str

    @classmethod
    def of(cls, repo: aggregate.Repository) -> Self:
        """From the aggregate (consistent right after a write)."""
        settings = repo.settings
        return cls(
            id=str(repo.id),
            organization_id=repo.organization_id,
            name=repo.name,
            **{k: settings.get(k) for k in REPOSITORY_FIELDS},
            created_by_type=repo.created_by.type,
            created_by=repo.created_by.id,
            created_at=stamp(repo.created_on),
        )

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> Self:
        """The wire fields of a view row (rows also carry unknown settings and a cursor)."""
        return cls(**{k: row.get(k) for k in cls.model_fields})


class RepositoryWithOrg(Repository):
    """A listed repository with its organization (the CLI prints `organization_slug/name`)."""

    organization_slug: str
    organization_display_name: str


class RepositoryList(Out):
    results: list[RepositoryWithOrg]
    pagination: Pagination

    @classmethod
    def of(cls, page: dict[str, Any]) -> Self:
        """From a page of view rows (`page.of`)."""
        return cls(
            results=[RepositoryWithOrg.of_row(r) for r in page["results"]],
            pagination=page["pagination"],
        )
