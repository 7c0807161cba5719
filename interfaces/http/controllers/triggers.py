"""Sandbox triggers: create, list, get, update (partial bodies merged), toggle, delete, runs."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from application.triggers import TriggersApplication
from domain.shared.errors import NotFound
from interfaces.http.deps import ContainerDep, OrgDep, PrincipalDep, settled
from interfaces.http.pagination import page
from interfaces.http.schemas.errors import errors, no_body
from interfaces.http.schemas.triggers import (
    CreateSandboxTriggerRequest,
    PatchSandboxTriggerRequest,
    SandboxTrigger,
    SandboxTriggerList,
    SandboxTriggerRunList,
    UpdateSandboxTriggerRequest,
)
from projections.triggers.runs import list_runs
from projections.triggers.triggers import get_trigger, list_triggers


def _app(container: ContainerDep) -> TriggersApplication:
    return container.service("triggers", TriggersApplication)


def _repository_id(container: ContainerDep, org_id: str, repository: str) -> str:
    return str(container.catalog.get_repository(org_id, repository, read_only=True).id)


def _trigger(container: ContainerDep, repository_id: str, trigger_id: str) -> SandboxTrigger:
    row = get_trigger(container.db, repository_id, trigger_id)
    if row is None:
        raise NotFound(f"trigger '{trigger_id[:100]}' not found")
    return SandboxTrigger.of(row)


class TriggersController(Controller):
    """`/organizations/{organization}/repositories/{repository}/sandbox-triggers…`."""

    path = "/organizations/{organization:str}/repositories/{repository:str}/sandbox-triggers"
    tags = ["sandbox-triggers"]

    @post(
        "/",
        opt={"action": "CreateTrigger"},
        operation_id="createSandboxTrigger",
        status_code=HTTP_201_CREATED,
        responses=errors(409),
        sync_to_thread=True,
    )
    def create(
        self,
        repository: FromPath[str],
        data: JSONBody[CreateSandboxTriggerRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> SandboxTrigger:
        result = _app(container).create_trigger(
            org.org_id,
            repository,
            name=data.name,
            description=data.description,
            enabled=data.enabled,
            conditions=data.conditions,
            sandbox_config=data.sandbox_config,
            run_as=data.run_as,
            principal=principal,
        )
        trigger = settled(container, result)
        return _trigger(container, trigger.repository_id, str(trigger.id))

    @get(
        "/",
        opt={"action": "ListTriggers"},
        operation_id="listSandboxTriggers",
        sync_to_thread=True,
    )
    def index(
        self,
        repository: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
        after: FromQuery[str | None] = None,
        amount: FromQuery[int | None] = None,
    ) -> SandboxTriggerList:
        size = page.size(amount)
        repo_id = _repository_id(container, org.org_id, repository)
        rows = list_triggers(container.db, repo_id, after=after or "", amount=size + 1)
        return SandboxTriggerList.of(page.of(rows, size, key="name"))

    @get(
        "/{trigger_id:str}",
        opt={"action": "GetTrigger"},
        operation_id="getSandboxTrigger",
        sync_to_thread=True,
    )
    def read(
        self,
        repository: FromPath[str],
        trigger_id: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
    ) -> SandboxTrigger:
        return _trigger(container, _repository_id(container, org.org_id, repository), trigger_id)

    @put(
        "/{trigger_id:str}",
        opt={"action": "UpdateTrigger"},
        operation_id="updateSandboxTrigger",
        responses=errors(409),
        sync_to_thread=True,
    )
    def update(
        self,
        repository: FromPath[str],
        trigger_id: FromPath[str],
        data: JSONBody[UpdateSandboxTriggerRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> SandboxTrigger:
        result = _app(container).update_trigger(
            org.org_id, repository, trigger_id, principal=principal, **data.given()
        )
        trigger = settled(container, result)
        return _trigger(container, trigger.repository_id, str(trigger.id))

    @patch(
        "/{trigger_id:str}",
        opt={"action": "UpdateTrigger"},
        operation_id="patchSandboxTrigger",
        sync_to_thread=True,
    )
    def toggle(
        self,
        repository: FromPath[str],
        trigger_id: FromPath[str],
        data: JSONBody[PatchSandboxTriggerRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> SandboxTrigger:
        result = _app(container).toggle_trigger(
            org.org_id, repository, trigger_id, enabled=data.enabled, principal=principal
        )
        trigger = settled(container, result)
        return _trigger(container, trigger.repository_id, str(trigger.id))

    @delete(
        "/{trigger_id:str}",
        opt={"action": "DeleteTrigger"},
        operation_id="deleteSandboxTrigger",
        status_code=HTTP_204_NO_CONTENT,
        responses=no_body(204, "Trigger deleted"),
        sync_to_thread=True,
    )
    def remove(
        self,
        repository: FromPath[str],
        trigger_id: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> None:
        result = _app(container).delete_trigger(org.org_id, repository, trigger_id, principal)
        settled(container, result)

    @get(
        "/{trigger_id:str}/runs",
        opt={"action": "ListTriggerRuns"},
        operation_id="listSandboxTriggerRuns",
        sync_to_thread=True,
    )
    def runs(
        self,
        repository: FromPath[str],
        trigger_id: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
        after: FromQuery[str | None] = None,
        amount: FromQuery[int | None] = None,
    ) -> SandboxTriggerRunList:
        size = page.size(amount)
        repo_id = _repository_id(container, org.org_id, repository)
        _trigger(container, repo_id, trigger_id)
        rows = list_runs(container.db, trigger_id, after=after or "", amount=size + 1)
        return SandboxTriggerRunList.of(page.of(rows, size, key="id"))
