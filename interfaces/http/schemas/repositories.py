"""Repository wire models: exactly the spec's fields, whatever a client sent or a view keeps.

msgspec structs, as the listings are (interfaces/http/schemas/objects.py): a page lists up to
1,000 repositories, and converting view rows drops their unknown settings and cursor for free."""

from __future__ import annotations

from typing import Annotated, Any, Self

import msgspec
from pydantic import BeforeValidator

from domain.catalog import repository as aggregate
from domain.shared.values import stamp
from interfaces.http.schemas.base import Lenient, Pagination
from interfaces.http.schemas.catalog import REPOSITORY_FIELDS


def _exactly(kind: type) -> BeforeValidator:
    """A JSON value of exactly this type or null: Litestar validates bodies in lax mode, which
    would read `"10"` or `true` as a number of days."""

    def check(value: Any) -> Any:
        if value is not None and (type(value) is not kind):
            raise ValueError(f"must be {'an' if kind is int else 'a'} {kind.__name__}")
        return value

    return BeforeValidator(check)


Text = Annotated[str | None, _exactly(str)]
Days = Annotated[int | None, _exactly(int)]
Flag = Annotated[bool | None, _exactly(bool)]


class RepositorySettings(Lenient):
    """Settings a create or update may name; ranges are the aggregate's to check. Fields the
    spec does not name are ignored."""

    description: Text = None
    visibility: Text = None
    retention_days: Days = None
    session_max_duration_days: Days = None
    agents_require_approval: Flag = None

    def given(self) -> dict[str, Any]:
        """The settings the client sent (an omitted field keeps its value)."""
        return self.model_dump(include=set(REPOSITORY_FIELDS), exclude_unset=True)


class CreateRepositoryRequest(RepositorySettings):
    name: Annotated[str, _exactly(str)]


class UpdateRepositoryRequest(RepositorySettings):
    """`name` may be repeated, never changed."""

    name: Text = None


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
