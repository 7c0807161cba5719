"""Connectors: create, list, get, delete and test them; attach them to repositories."""

from __future__ import annotations

from litestar import Controller, MediaType, delete, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from application.connectors import ConnectorsApplication
from domain.shared.errors import NotFound
from interfaces.http.deps import ContainerDep, OrgDep, PrincipalDep, require_named, settled
from interfaces.http.schemas.connectors import (
    AttachConnectorRequest,
    ConnectorInfo,
    ConnectorList,
    CreateConnectorRequest,
    TestConnectionResult,
    TestConnectorConfigRequest,
)
from interfaces.http.schemas.errors import errors
from projections.connectors.connectors import (
    get_connector,
    list_connectors,
    repository_connectors,
)


def _app(container: ContainerDep) -> ConnectorsApplication:
    return container.service("connectors", ConnectorsApplication)


def _info(container: ContainerDep, org_id: str, connector_id: str) -> ConnectorInfo:
    row = get_connector(container.db, org_id, connector_id)
    if row is None:
        raise NotFound("connector not found")
    return ConnectorInfo(**row)


class ConnectorsController(Controller):
    """`/organizations/{organization}/connectors…` (s3 and gcs; git and Drive answer 400)."""

    path = "/organizations/{organization:str}"
    tags = ["connectors"]

    @post(
        "/connectors",
        opt={"action": "CreateConnector", "body_resource": "connector"},
        operation_id="createConnector",
        responses=errors(409),
        sync_to_thread=True,
    )
    def create(
        self,
        data: JSONBody[CreateConnectorRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> ConnectorInfo:
        require_named(container, principal, org, "CreateConnector", "connector", data.name)
        result = _app(container).create_connector(
            org.org_id,
            name=data.name,
            type=data.type,
            source_uri=data.source_uri,
            config=data.config,
            principal=principal,
        )
        return _info(container, org.org_id, str(settled(container, result).id))

    @get(
        "/connectors",
        opt={"action": "ListConnectors"},
        operation_id="listConnectors",
        sync_to_thread=True,
    )
    def index(self, org: OrgDep, container: ContainerDep) -> ConnectorList:
        rows = list_connectors(container.db, org.org_id)
        return ConnectorList(results=[ConnectorInfo(**r) for r in rows])

    @post(
        "/connectors:test",
        opt={"action": "TestConnector", "body_resource": "connector"},
        operation_id="testConnectorConfig",
        status_code=HTTP_200_OK,
        responses=errors(502),
        sync_to_thread=True,
    )
    def test_config(
        self,
        data: JSONBody[TestConnectorConfigRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> TestConnectionResult:
        """Lists the unsaved source once (bounded in time): 200 or 502 with its error."""
        require_named(container, principal, org, "TestConnector", "connector", "")
        _app(container).test_config(type=data.type, source_uri=data.source_uri, config=data.config)
        return TestConnectionResult()

    @get(
        "/connectors/{connector_id:str}",
        opt={"action": "GetConnector"},
        operation_id="getConnector",
        sync_to_thread=True,
    )
    def read(
        self, connector_id: FromPath[str], org: OrgDep, container: ContainerDep
    ) -> ConnectorInfo:
        return _info(container, org.org_id, connector_id)

    @delete(
        "/connectors/{connector_id:str}",
        opt={"action": "DeleteConnector"},
        operation_id="deleteConnector",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def remove(
        self,
        connector_id: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> None:
        settled(container, _app(container).delete_connector(org.org_id, connector_id, principal))

    @post(
        "/connectors/{connector_id:str}/test",
        opt={"action": "TestConnector"},
        operation_id="testConnector",
        status_code=HTTP_200_OK,
        responses=errors(502),
        sync_to_thread=True,
    )
    def test(
        self, connector_id: FromPath[str], org: OrgDep, container: ContainerDep
    ) -> TestConnectionResult:
        _app(container).test_connector(org.org_id, connector_id)
        return TestConnectionResult()


class RepositoryConnectorsController(Controller):
    """`/organizations/{organization}/repositories/{repository}/connectors…`."""

    path = "/organizations/{organization:str}/repositories/{repository:str}/connectors"
    tags = ["connectors"]

    @post(
        "/",
        opt={"action": "AttachConnector"},
        operation_id="attachConnector",
        status_code=HTTP_201_CREATED,
        # A JSON response renders None as `null`; an empty text body is no body (nor schema).
        media_type=MediaType.TEXT,
        responses=errors(409),
        sync_to_thread=True,
    )
    def attach(
        self,
        repository: FromPath[str],
        data: JSONBody[AttachConnectorRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> None:
        """201 with no body, as the spec says."""
        result = _app(container).attach_connector(
            org.org_id, repository, data.connector_id, principal
        )
        settled(container, result)

    @get(
        "/",
        opt={"action": "ListRepositoryConnectors"},
        operation_id="listRepoConnectors",
        sync_to_thread=True,
    )
    def index(
        self, repository: FromPath[str], org: OrgDep, container: ContainerDep
    ) -> ConnectorList:
        repo = container.catalog.get_repository(org.org_id, repository, read_only=True)
        rows = repository_connectors(container.db, org.org_id, str(repo.id))
        return ConnectorList(results=[ConnectorInfo(**r) for r in rows])

    @delete(
        "/{connector_id:str}",
        opt={"action": "DetachConnector"},
        operation_id="detachConnector",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def detach(
        self,
        repository: FromPath[str],
        connector_id: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> None:
        result = _app(container).detach_connector(org.org_id, repository, connector_id, principal)
        settled(container, result)
