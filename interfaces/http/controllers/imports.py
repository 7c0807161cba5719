"""Imports: start a job (202, a worker performs it) and read its status."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED

from application.imports import ImportsApplication
from interfaces.http.deps import ContainerDep, OrgDep, PrincipalDep, settled
from interfaces.http.schemas.errors import errors
from interfaces.http.schemas.imports import ImportJobOut, StartImportRequest, StartImportResponse


class ImportsController(Controller):
    """`…/repositories/{repository}/import` and `…/import/{job_id}`."""

    path = "/organizations/{organization:str}/repositories/{repository:str}/import"
    tags = ["import"]

    @post(
        "",
        opt={"action": "StartImport"},
        operation_id="startImport",
        status_code=HTTP_202_ACCEPTED,
        responses=errors(409),
        sync_to_thread=True,
    )
    def start(
        self,
        repository: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
        data: JSONBody[StartImportRequest],
    ) -> StartImportResponse:
        imports = container.service("imports", ImportsApplication)
        body = data.model_dump(exclude_none=True)
        job = settled(container, imports.start_import(org.org_id, repository, body, principal))
        return StartImportResponse(job_id=str(job.id))

    @get(
        "/{job_id:str}",
        opt={"action": "GetImport"},
        operation_id="getImportStatus",
        sync_to_thread=True,
    )
    def status(
        self,
        repository: FromPath[str],
        job_id: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
    ) -> ImportJobOut:
        imports = container.service("imports", ImportsApplication)
        return ImportJobOut.of(imports.status(org.org_id, repository, job_id))
