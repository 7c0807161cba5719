"""Repository commands: create, update, soft delete."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from eventsourcing.persistence import IntegrityError

from application.base import Result
from application.catalog.app import CatalogBase
from application.principal import Principal
from domain.catalog.paths import check_repository_name
from domain.catalog.repository import Repository
from domain.shared.errors import Conflict
from domain.shared.ids import index_id
from domain.shared.index import IndexEntry


class RepositoryCommands(CatalogBase):
    """Repositories of an organization."""

    def create_repository(
        self, org_id: str, *, name: object, settings: dict[str, Any], principal: Principal
    ) -> Result[Repository]:
        repo_name = check_repository_name(name)
        kind = f"repo-name:{org_id}"
        entry = self.find(index_id(kind, repo_name), IndexEntry)
        if entry is not None and not entry.is_free:
            raise Conflict(f"repository '{repo_name}' already exists")
        repo_id = uuid4()
        repo = Repository.create(
            repository_id=repo_id,
            organization_id=org_id,
            name=repo_name,
            settings=settings,
            actor=principal.actor,
        )
        if entry is None:
            entry = IndexEntry.claim(kind, repo_name, repo_id)
        else:
            entry.reclaim(repo_id)
        try:
            written = self.record(repo, entry)
        except IntegrityError:
            raise Conflict(f"repository '{repo_name}' already exists") from None
        return Result(repo, (written,))

    def update_repository(
        self, org_id: str, name: str, settings: dict[str, Any], principal: Principal
    ) -> Result[Repository]:
        def command() -> Result[Repository]:
            repo = self.get_repository(org_id, name)
            repo.update(settings, principal.actor)
            return Result(repo, (self.record(repo),))

        return self.retrying(command)

    def delete_repository(self, org_id: str, name: str, principal: Principal) -> Result[None]:
        """Soft delete: the name is free again; bytes go when garbage collection purges it."""

        def command() -> Result[None]:
            repo = self.get_repository(org_id, name)
            repo.delete(principal.actor)
            entry = self.find(index_id(f"repo-name:{org_id}", name), IndexEntry)
            if entry is not None:
                entry.release()
            return Result(None, (self.record(repo, entry),))

        return self.retrying(command)
