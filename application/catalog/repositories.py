"""Repository commands: create, update, soft delete, restore, purge."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError

from application.base import Result
from application.catalog.app import CatalogBase
from application.principal import Principal
from domain.catalog.paths import check_repository_name
from domain.catalog.repository import Repository
from domain.shared.errors import Conflict, NotFound
from domain.shared.ids import index_id
from domain.shared.index import IndexEntry
from domain.shared.values import Actor, stamp


class RepositoryCommands(CatalogBase):
    """Repositories of an organization."""

    def create_repository(
        self, org_id: str, *, name: object, settings: dict[str, Any], principal: Principal
    ) -> Result[Repository]:
        repo_name = check_repository_name(name)
        kind = f"repo-name:{org_id}"
        entry = self.find(index_id(kind, repo_name), IndexEntry)
        if entry is not None and not entry.is_free:
            self._refuse_held(org_id, repo_name, entry.owner_id)
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

    def _refuse_held(self, org_id: str, name: str, owner_id: str) -> None:
        held = self.find(UUID(owner_id), Repository)
        if held is not None and held.deleted and not held.purged:
            until = stamp(held.purge_after(self.deleted_retention))
            raise Conflict(
                f"repository name '{name}' is reserved until {until}: a repository of that "
                "name was deleted and the operator can still restore it (tilde-server "
                "repositories restore ORG/NAME); the name is free once it is purged"
            )
        raise Conflict(f"repository '{name}' already exists")

    def delete_repository(self, org_id: str, name: str, principal: Principal) -> Result[None]:
        """Soft delete: objects and history stay, restorable by the operator, and the name
        stays reserved until garbage collection purges the repository."""

        def command() -> Result[None]:
            repo = self.get_repository(org_id, name)
            repo.delete(principal.actor, at=self.clock())
            return Result(None, (self.record(repo),))

        return self.retrying(command)

    def repository_names(self, org_id: str) -> list[str]:
        """Names of the organization's live repositories (from the never-lagging catalog)."""
        rows = self.reads.repositories()
        return sorted(
            r["name"] for r in rows if r["organization_id"] == org_id and not r["deleted"]
        )

    def deleted_repositories(self, org_id: str | None = None) -> list[Repository]:
        """Deleted repositories not yet purged (restorable), of one organization or all."""
        found = []
        for row in self.reads.repositories():
            if row["deleted"] and not row["purged"] and org_id in (None, row["organization_id"]):
                repo = self.find(UUID(row["id"]), Repository)
                if repo is not None and repo.deleted and not repo.purged:
                    found.append(repo)
        return sorted(found, key=lambda r: (r.organization_id, r.name, r.deleted_at))

    def restore_repository(self, org_id: str, name: str, actor: Actor) -> Result[Repository]:
        """Undelete the organization's deleted repository `name` (the latest deleted, if
        several were, before names stayed reserved) with its objects and history."""
        candidates = [r for r in self.deleted_repositories(org_id) if r.name == name]
        if not candidates:
            raise NotFound(f"no deleted repository '{name}' to restore")
        repo_id = candidates[-1].id

        def command() -> Result[Repository]:
            repo = self.find(repo_id, Repository)
            assert repo is not None
            kind = f"repo-name:{org_id}"
            entry = self.find(index_id(kind, name), IndexEntry)
            if entry is not None and not entry.is_free and entry.owner_id != str(repo.id):
                raise Conflict(f"repository name '{name}' now belongs to another repository")
            repo.restore(actor)
            changed: list[object] = [repo]
            if entry is None:
                changed.append(IndexEntry.claim(kind, name, repo.id))
            elif entry.is_free:
                entry.reclaim(repo.id)
                changed.append(entry)
            self._repository_ids.pop((org_id, name), None)
            return Result(repo, (self.record(*changed),))

        return self.retrying(command)
