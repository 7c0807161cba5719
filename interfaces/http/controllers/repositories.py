"""Repositories: create, list (per organization and across them), get, update, delete."""

from __future__ import annotations

from litestar import Controller, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.shared.errors import Invalid
from interfaces.http.deps import ContainerDep, OrgDep, PrincipalDep, require_named, settled
from interfaces.http.pagination import page
from interfaces.http.schemas.errors import errors
from interfaces.http.schemas.repositories import (
    CreateRepositoryRequest,
    Repository,
    RepositoryList,
    UpdateRepositoryRequest,
)
from projections.catalog.repositories import list_repositories


class RepositoriesController(Controller):
    """`/organizations/{organization}/repositories[/{repository}]`."""

    path = "/organizations/{organization:str}/repositories"
    tags = ["repositories"]

    @post(
        "/",
        opt={"action": "CreateRepository", "body_resource": "repository"},
        operation_id="createRepository",
        responses=errors(409),
        sync_to_thread=True,
    )
    def create(
        self,
        data: JSONBody[CreateRepositoryRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> Repository:
        require_named(container, principal, org, "CreateRepository", "repository", data.name)
        result = container.catalog.create_repository(
            org.org_id, name=data.name, settings=data.given(), principal=principal
        )
        return Repository.of(settled(container, result))

    @get(
        "/",
        opt={"action": "ListRepositories"},
        operation_id="listRepositories",
        sync_to_thread=True,
    )
    def index(
        self,
        org: OrgDep,
        container: ContainerDep,
        after: FromQuery[str | None] = None,
        amount: FromQuery[int | None] = None,
    ) -> RepositoryList:
        size = page.size(amount)
        cursor = after if after is None or "/" in after else f"{org.name}/{after}"
        rows = list_repositories(container.db, [org.org_id], after=cursor or "", amount=size + 1)
        return RepositoryList.of(page.of(rows, size, key="cursor"))

    @get(
        "/{repository:str}",
        opt={"action": "GetRepository"},
        operation_id="getRepository",
        sync_to_thread=True,
    )
    def read(self, repository: FromPath[str], org: OrgDep, container: ContainerDep) -> Repository:
        return Repository.of(
            container.catalog.get_repository(org.org_id, repository, read_only=True)
        )

    @put(
        "/{repository:str}",
        opt={"action": "UpdateRepository"},
        operation_id="updateRepository",
        sync_to_thread=True,
    )
    def replace(
        self,
        repository: FromPath[str],
        data: JSONBody[UpdateRepositoryRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> Repository:
        if data.name is not None and data.name != repository:
            raise Invalid("a repository cannot be renamed")
        result = container.catalog.update_repository(
            org.org_id, repository, data.given(), principal
        )
        return Repository.of(settled(container, result))

    @delete(
        "/{repository:str}",
        opt={"action": "DeleteRepository"},
        operation_id="deleteRepository",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def remove(
        self,
        repository: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> None:
        settled(container, container.catalog.delete_repository(org.org_id, repository, principal))


class AllRepositoriesController(Controller):
    """`GET /repositories`: every repository the caller may list, across organizations."""

    path = "/repositories"
    tags = ["repositories"]

    @get(
        "/",
        opt={"action": "ListAllRepositories"},
        operation_id="listAllUserRepos",
        sync_to_thread=True,
    )
    def index(
        self,
        principal: PrincipalDep,
        container: ContainerDep,
        after: FromQuery[str | None] = None,
        amount: FromQuery[int | None] = None,
    ) -> RepositoryList:
        authorizer = container.authorizer
        org_ids = []
        for name in authorizer.source.organizations_of(principal):
            snap = authorizer.snapshot(name)
            if snap and authorizer.may(principal, name, "ListRepositories"):
                org_ids.append(snap.org_id)
        size = page.size(amount)
        rows = list_repositories(container.db, org_ids, after=after or "", amount=size + 1)
        return RepositoryList.of(page.of(rows, size, key="cursor"))
