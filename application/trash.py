"""Deleted organizations and repositories: refused while in use, restorable by the operator
for a retention window (names stay reserved), purged by garbage collection after it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from application.base import Result
from application.catalog import CatalogApplication, GcReport
from application.organizations import OrganizationsApplication
from application.principal import Principal
from domain.catalog.repository import Repository
from domain.organizations.organization import Organization
from domain.shared.errors import DomainError, NotFound
from domain.shared.values import Actor


@dataclass(frozen=True)
class Deleted:
    """One restorable thing: an organization, or a repository (`repository` set)."""

    organization: str
    repository: str
    id: str
    deleted_at: datetime
    purge_after: datetime


class Trash:
    """Spans the organizations and catalog contexts, which keep their own deleted things."""

    def __init__(
        self,
        organizations: OrganizationsApplication,
        catalog: CatalogApplication,
        deleted_organizations: Callable[[], list[dict[str, Any]]],
    ) -> None:
        self.organizations = organizations
        self.catalog = catalog
        # Rows (id, name) of deleted, unpurged organizations: a read model's query.
        self.deleted_organizations = deleted_organizations

    def delete_organization(self, org_id: str, principal: Principal) -> Result[None]:
        """409 naming the repositories while any is live; they go first, one by one."""
        names = self.catalog.repository_names(org_id)
        return self.organizations.delete_organization(org_id, principal, repositories=names)

    def _deleted_orgs(self) -> list[Organization]:
        found = []
        for row in self.deleted_organizations():
            try:
                found.append(self.organizations.deleted_organization(row["id"]))
            except NotFound:
                continue  # restored or purged since the view was read
        return found

    def deleted(self) -> list[Deleted]:
        """Everything restorable, organizations first, then repositories (by name)."""
        org_retention = self.organizations.deleted_retention
        out = [
            Deleted(o.name, "", str(o.id), o.deleted_at, o.purge_after(org_retention))
            for o in self._deleted_orgs()
        ]
        names = {r.id: r.organization for r in out}
        for repo in self.catalog.deleted_repositories():
            org = names.get(repo.organization_id) or self._org_name(repo.organization_id)
            out.append(self._item(org, repo))
        return sorted(out, key=lambda d: (d.organization, d.repository, d.deleted_at))

    def _item(self, org: str, repo: Repository) -> Deleted:
        purge = repo.purge_after(self.catalog.deleted_retention)
        return Deleted(org, repo.name, str(repo.id), repo.deleted_at, purge)

    def _org_name(self, org_id: str) -> str:
        try:
            return self.organizations.organization(org_id).name
        except NotFound:
            return org_id

    def restore_organization(self, name: str, actor: Actor) -> Result[Organization]:
        """The latest deleted organization called `name` comes back, members and all."""
        candidates = [o for o in self._deleted_orgs() if o.name == name]
        if not candidates:
            raise NotFound(f"no deleted organization '{name}' to restore")
        latest = max(candidates, key=lambda o: o.deleted_at)
        return self.organizations.restore_organization(str(latest.id), actor)

    def restore_repository(self, org_name: str, name: str, actor: Actor) -> Result[Repository]:
        try:
            org = self.organizations.organization(org_name)
        except NotFound:
            raise NotFound(
                f"organization '{org_name}' not found (restore it first if it was deleted)"
            ) from None
        return self.catalog.restore_repository(str(org.id), name, actor)

    def collect(self, now: datetime | None = None) -> GcReport:
        """Purge organizations past the window (their repositories with them), then run the
        catalog's collection (repositories past the window, retention, blobs)."""
        now = now or self.catalog.clock()
        orgs = repos = 0
        for org in self._deleted_orgs():
            if org.purge_after(self.organizations.deleted_retention) > now:
                continue
            try:
                # The organization first: a restore that wins the race keeps its repositories.
                self.organizations.purge_organization(str(org.id), Actor.system())
            except DomainError:
                continue  # restored meanwhile
            orgs += 1
            repos += self.catalog.purge_repositories_of(str(org.id))
        report = self.catalog.collect(now)
        report.organizations_purged = orgs
        report.repositories_purged += repos
        return report
