"""Repository and agent secrets: put, list (metadata), get (decrypted, never cached), delete."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, put
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from application.authz import OrgSnapshot
from application.principal import Principal
from application.secrets.app import SecretsApplication
from domain.secrets.rules import AGENT, REPOSITORY
from infra.bootstrap import Container
from interfaces.http.deps import ContainerDep, OrgDep, PrincipalDep, settled
from interfaces.http.schemas.errors import errors, no_body
from interfaces.http.schemas.secrets import (
    PutSecretRequest,
    SecretKey,
    SecretList,
    SecretListEntry,
    SecretValueResponse,
)
from projections.secrets.secrets import list_secrets

# The spec: "the total request body is limited to 64 KiB" for a value of up to 64 KiB; JSON
# escapes may multiply the value's size (\uXXXX), so the body cap leaves room for them and the
# value's own limit (64 KiB of UTF-8) is the domain rule's.
MAX_BODY = 6 * 64 * 1024 + 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _app(container: Container) -> SecretsApplication:
    return container.service("secrets", SecretsApplication)


def _repository(container: Container, org: OrgSnapshot, repository: str) -> str:
    return str(container.catalog.get_repository(org.org_id, repository, read_only=True).id)


def _agent(container: Container, org: OrgSnapshot, agent_name: str) -> str:
    return str(container.organizations.agent_by_name(org.org_id, agent_name).id)


def _put(
    container: Container,
    org: OrgSnapshot,
    scope: tuple[str, str],
    key: str,
    data: PutSecretRequest,
    principal: Principal,
) -> SecretKey:
    result = _app(container).put_secret(org.org_id, *scope, key, data.value, principal)
    return SecretKey(key=settled(container, result))


def _list(container: Container, org: OrgSnapshot, scope: tuple[str, str]) -> SecretList:
    rows = list_secrets(container.db, org.org_id, *scope)
    return SecretList(results=[SecretListEntry.of(r) for r in rows])


def _read(
    container: Container, org: OrgSnapshot, scope: tuple[str, str], key: str
) -> Response[SecretValueResponse]:
    value = _app(container).read_secret(org.org_id, *scope, key)
    return Response(SecretValueResponse(key=key, value=value), headers=NO_STORE)


def _delete(
    container: Container, org: OrgSnapshot, scope: tuple[str, str], key: str, who: Principal
) -> None:
    settled(container, _app(container).delete_secret(org.org_id, *scope, key, who))


class RepositorySecretsController(Controller):
    """`/organizations/{organization}/repositories/{repository}/secrets…`."""

    path = "/organizations/{organization:str}/repositories/{repository:str}/secrets"
    tags = ["secrets"]

    @get(
        "/",
        opt={"action": "ManageRepositorySecrets"},
        operation_id="listSecrets",
        sync_to_thread=True,
    )
    def index(self, repository: FromPath[str], org: OrgDep, container: ContainerDep) -> SecretList:
        return _list(container, org, (REPOSITORY, _repository(container, org, repository)))

    @put(
        "/{secret_key:str}",
        opt={"action": "ManageRepositorySecrets"},
        operation_id="putSecret",
        request_max_body_size=MAX_BODY,
        sync_to_thread=True,
    )
    def put(
        self,
        repository: FromPath[str],
        secret_key: FromPath[str],
        data: JSONBody[PutSecretRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> SecretKey:
        scope = (REPOSITORY, _repository(container, org, repository))
        return _put(container, org, scope, secret_key, data, principal)

    @get(
        "/{secret_key:str}",
        opt={"action": "ReadRepositorySecrets"},
        operation_id="getSecret",
        responses=errors(400),
        sync_to_thread=True,
    )
    def read(
        self,
        repository: FromPath[str],
        secret_key: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
    ) -> Response[SecretValueResponse]:
        scope = (REPOSITORY, _repository(container, org, repository))
        return _read(container, org, scope, secret_key)

    @delete(
        "/{secret_key:str}",
        opt={"action": "ManageRepositorySecrets"},
        operation_id="deleteSecret",
        status_code=HTTP_204_NO_CONTENT,
        responses=no_body(204, "Secret deleted"),
        sync_to_thread=True,
    )
    def remove(
        self,
        repository: FromPath[str],
        secret_key: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> None:
        scope = (REPOSITORY, _repository(container, org, repository))
        _delete(container, org, scope, secret_key, principal)


class AgentSecretsController(Controller):
    """`/organizations/{organization}/agents/{agent_name}/secrets…`."""

    path = "/organizations/{organization:str}/agents/{agent_name:str}/secrets"
    tags = ["secrets"]

    @get(
        "/",
        opt={"action": "ManageAgentSecrets"},
        operation_id="listAgentSecrets",
        sync_to_thread=True,
    )
    def index(self, agent_name: FromPath[str], org: OrgDep, container: ContainerDep) -> SecretList:
        return _list(container, org, (AGENT, _agent(container, org, agent_name)))

    @put(
        "/{secret_key:str}",
        opt={"action": "ManageAgentSecrets"},
        operation_id="putAgentSecret",
        request_max_body_size=MAX_BODY,
        sync_to_thread=True,
    )
    def put(
        self,
        agent_name: FromPath[str],
        secret_key: FromPath[str],
        data: JSONBody[PutSecretRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> SecretKey:
        scope = (AGENT, _agent(container, org, agent_name))
        return _put(container, org, scope, secret_key, data, principal)

    @get(
        "/{secret_key:str}",
        opt={"action": "ReadAgentSecrets"},
        operation_id="getAgentSecret",
        responses=errors(400),
        sync_to_thread=True,
    )
    def read(
        self,
        agent_name: FromPath[str],
        secret_key: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
    ) -> Response[SecretValueResponse]:
        return _read(container, org, (AGENT, _agent(container, org, agent_name)), secret_key)

    @delete(
        "/{secret_key:str}",
        opt={"action": "ManageAgentSecrets"},
        operation_id="deleteAgentSecret",
        status_code=HTTP_204_NO_CONTENT,
        responses=no_body(204, "Secret deleted"),
        sync_to_thread=True,
    )
    def remove(
        self,
        agent_name: FromPath[str],
        secret_key: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> None:
        scope = (AGENT, _agent(container, org, agent_name))
        _delete(container, org, scope, secret_key, principal)
