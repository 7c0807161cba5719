"""Sandboxes: create, list, get, status, cancel and finish (logs and exec live beside)."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED

from application.sandboxes.app import SandboxesApplication
from application.sandboxes.queries import SandboxQueries
from infra.bootstrap import Container
from interfaces.http.deps import ContainerDep, OrgDep, PrincipalDep, settled
from interfaces.http.pagination import page
from interfaces.http.schemas.errors import errors
from interfaces.http.schemas.sandboxes import (
    CreateSandboxRequest,
    CreateSandboxResponse,
    Sandbox,
    SandboxList,
    SandboxMessage,
    SandboxStatusResponse,
)


def _app(container: Container) -> SandboxesApplication:
    return container.service("sandboxes", SandboxesApplication)


def _queries(container: Container) -> SandboxQueries:
    return container.service("sandbox_queries", SandboxQueries)


class SandboxesController(Controller):
    """`…/repositories/{repository}/sandboxes…`."""

    path = "/organizations/{organization:str}/repositories/{repository:str}/sandboxes"
    tags = ["sandboxes"]

    @post(
        "",
        opt={"action": "CreateSandbox"},
        operation_id="createSandbox",
        status_code=HTTP_201_CREATED,
        responses=errors(404, 503),
        sync_to_thread=True,
    )
    def create(
        self,
        repository: FromPath[str],
        data: JSONBody[CreateSandboxRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> CreateSandboxResponse:
        result = _app(container).create(org.org_id, repository, data.body(), principal)
        return CreateSandboxResponse(sandbox_id=str(settled(container, result).id))

    @get("", opt={"action": "ListSandboxes"}, operation_id="listSandboxes", sync_to_thread=True)
    def index(
        self,
        repository: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
        after: FromQuery[str | None] = None,
        amount: FromQuery[int | None] = None,
    ) -> SandboxList:
        size = page.size(amount)
        rows = _queries(container).list(org.org_id, repository, after=after or "", amount=size + 1)
        body = page.of(rows, size, key="sort_key")
        body["results"] = [{k: v for k, v in r.items() if k != "sort_key"} for r in body["results"]]
        return SandboxList.model_validate(body)

    @get(
        "/{sandbox_id:str}",
        opt={"action": "GetSandbox"},
        operation_id="getSandbox",
        responses=errors(404),
        sync_to_thread=True,
    )
    def show(
        self,
        repository: FromPath[str],
        sandbox_id: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
    ) -> Sandbox:
        return Sandbox(**_queries(container).get(org.org_id, repository, sandbox_id))

    @get(
        "/{sandbox_id:str}/status",
        opt={"action": "GetSandbox"},
        operation_id="getSandboxStatus",
        responses=errors(404),
        sync_to_thread=True,
    )
    def status(
        self,
        repository: FromPath[str],
        sandbox_id: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
    ) -> SandboxStatusResponse:
        return SandboxStatusResponse(
            **_queries(container).status(org.org_id, repository, sandbox_id)
        )

    @delete(
        "/{sandbox_id:str}",
        opt={"action": "CancelSandbox"},
        operation_id="cancelSandbox",
        status_code=HTTP_202_ACCEPTED,
        responses=errors(404, 409),
        sync_to_thread=True,
    )
    def cancel(
        self,
        repository: FromPath[str],
        sandbox_id: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> SandboxMessage:
        result = _app(container).cancel(org.org_id, repository, sandbox_id, principal)
        settled(container, result)
        return SandboxMessage(message="sandbox cancellation requested; its session is rolled back")

    @post(
        "/{sandbox_id:str}/finish",
        opt={"action": "CancelSandbox"},
        operation_id="finishSandbox",
        status_code=HTTP_202_ACCEPTED,
        responses=errors(400, 404, 409, 503),
        sync_to_thread=True,
    )
    def finish(
        self,
        repository: FromPath[str],
        sandbox_id: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> SandboxMessage:
        result = _app(container).request_finish(org.org_id, repository, sandbox_id, principal)
        settled(container, result)
        return SandboxMessage(
            message="sandbox finish requested; poll its status for the commit outcome"
        )
