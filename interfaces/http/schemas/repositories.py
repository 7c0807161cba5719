"""Repository wire models: exactly the spec's fields, whatever a client sent or a view keeps.

msgspec structs, as the listings are (interfaces/http/schemas/objects.py): a page lists up to
1,000 repositories, and converting view rows drops their unknown settings and cursor for free."""

from __future__ import annotations

from typing import Any, Self

import msgspec

from domain.catalog import repository as aggregate
from domain.shared.values import stamp
from interfaces.http.schemas.base import Pagination
from interfaces.http.schemas.catalog import REPOSITORY_FIELDS


class Repository(msgspec.Struct):
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
        return msgspec.convert(
            {
                "id": str(repo.id),
                "organization_id": repo.organization_id,
                "name": repo.name,
                **{k: settings.get(k) for k in REPOSITORY_FIELDS},
                "created_by_type": repo.created_by.type,
                "created_by": repo.created_by.id,
                "created_at": stamp(repo.created_on),
            },
            cls,
        )


class RepositoryWithOrg(Repository):
    """A listed repository with its organization (the CLI prints `organization_slug/name`)."""

    organization_slug: str
    organization_display_name: str


class RepositoryList(msgspec.Struct):
    results: list[RepositoryWithOrg]
    pagination: Pagination

    @classmethod
    def of(cls, page: dict[str, Any]) -> Self:
        """From a page of view rows (`page.of`): unknown settings and the cursor fall away."""
        return cls(
            results=msgspec.convert(page["results"], list[RepositoryWithOrg]),
            pagination=Pagination(**page["pagination"]),
        )
