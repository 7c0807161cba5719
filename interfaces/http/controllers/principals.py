"""Roles and agents, with their API keys."""

from __future__ import annotations

from typing import Any

from litestar import Controller, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from application.authz import OrgSnapshot
from domain.shared.errors import NotFound
from infra.bootstrap import Container
from interfaces.http.deps import ContainerDep, OrgDep, PrincipalDep, require_named, settled
from interfaces.http.pagination import page
from interfaces.http.schemas.identity import APIToken, APITokenCreated, APITokenList
from interfaces.http.schemas.organizations import (
    Agent,
    CreateAgentRequest,
    CreateKeyRequest,
    CreateRoleRequest,
    Role,
    UpdateAgentRequest,
)
from projections.identity.api_keys import get_key, list_keys
from projections.organizations.principals import list_agents, list_roles


def _role(container: Container, org: OrgSnapshot, name: str) -> Role:
    rows = list_roles(container.db, org.org_id, name=name)
    if not rows:
        raise NotFound(f"role '{name}' not found")
    return Role(**rows[0])


def _agent(container: Container, org: OrgSnapshot, name: str) -> Agent:
    rows = list_agents(container.db, org.org_id, name=name)
    if not rows:
        raise NotFound(f"agent '{name}' not found")
    return Agent(**rows[0])


class _KeysMixin:
    """Key routes shared by roles and agents (`…/{name}/auth/keys`)."""

    @staticmethod
    def _create_key(
        container: Container,
        org: OrgSnapshot,
        kind: str,
        name: str,
        data: CreateKeyRequest,
        principal: Any,
    ) -> APITokenCreated:
        result = container.organizations.create_key(
            org.org_id,
            kind,
            name,
            key_name=data.name,
            description=data.description or "",
            principal=principal,
        )
        key, token = settled(container, result)
        return APITokenCreated(
            token=token, id=str(key.id), name=key.name, description=key.description
        )

    @staticmethod
    def _keys(container: Container, org: OrgSnapshot, kind: str, name: str) -> APITokenList:
        owner = container.organizations.owner(org.org_id, kind, name)
        return APITokenList(
            results=[APIToken.of(r) for r in list_keys(container.db, kind, str(owner.id))]
        )

    @staticmethod
    def _key(container: Container, org: OrgSnapshot, kind: str, name: str, key_id: str) -> APIToken:
        owner = container.organizations.owner(org.org_id, kind, name)
        row = get_key(container.db, key_id)
        if row is None or row["owner_type"] != kind or row["owner_id"] != str(owner.id):
            raise NotFound("API key not found")
        return APIToken.of(row)


class RolesController(Controller, _KeysMixin):
    """`/organizations/{organization}/roles`."""

    path = "/organizations/{organization:str}/roles"
    tags = ["rbac"]

    @post(
        "/",
        opt={"action": "CreateRole", "body_resource": "role"},
        operation_id="createRole",
        sync_to_thread=True,
    )
    def create(
        self,
        data: JSONBody[CreateRoleRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> Role:
        require_named(container, principal, org, "CreateRole", "role", data.name)
        role = settled(
            container,
            container.organizations.create_role(
                org.org_id, name=data.name, description=data.description, principal=principal
            ),
        )
        return _role(container, org, role.name)

    @get("/", opt={"action": "ListRoles"}, operation_id="listRoles", sync_to_thread=True)
    def index(
        self,
        org: OrgDep,
        container: ContainerDep,
        after: FromQuery[str | None] = None,
        amount: FromQuery[int | None] = None,
    ) -> dict[str, Any]:
        size = page.size(amount)
        rows = list_roles(container.db, org.org_id, after=after or "", amount=size + 1)
        return page.of([Role(**r).model_dump() for r in rows], size, key="name")

    @get("/{role_name:str}", opt={"action": "GetRole"}, operation_id="getRole", sync_to_thread=True)
    def read(self, role_name: FromPath[str], org: OrgDep, container: ContainerDep) -> Role:
        return _role(container, org, role_name)

    @delete(
        "/{role_name:str}",
        opt={"action": "DeleteRole"},
        operation_id="deleteRole",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def remove(
        self,
        role_name: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> None:
        settled(container, container.organizations.delete_role(org.org_id, role_name, principal))

    @post(
        "/{role_name:str}/auth/keys",
        opt={"action": "CreateRoleAPIKey"},
        operation_id="createRoleAPIKey",
        sync_to_thread=True,
    )
    def create_key(
        self,
        role_name: FromPath[str],
        data: JSONBody[CreateKeyRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> APITokenCreated:
        return self._create_key(container, org, "role", role_name, data, principal)

    @get(
        "/{role_name:str}/auth/keys",
        opt={"action": "ListRoleAPIKeys"},
        operation_id="listRoleAPIKeys",
        sync_to_thread=True,
    )
    def list_keys(
        self, role_name: FromPath[str], org: OrgDep, container: ContainerDep
    ) -> APITokenList:
        return self._keys(container, org, "role", role_name)

    @get(
        "/{role_name:str}/auth/keys/{key_id:str}",
        opt={"action": "ListRoleAPIKeys"},
        operation_id="getRoleAPIKey",
        sync_to_thread=True,
    )
    def get_key(
        self, role_name: FromPath[str], key_id: FromPath[str], org: OrgDep, container: ContainerDep
    ) -> APIToken:
        return self._key(container, org, "role", role_name, key_id)

    @delete(
        "/{role_name:str}/auth/keys/{key_id:str}",
        opt={"action": "RevokeRoleAPIKey"},
        operation_id="revokeRoleAPIKey",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def revoke_key(
        self,
        role_name: FromPath[str],
        key_id: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> None:
        settled(
            container,
            container.organizations.revoke_key(org.org_id, "role", role_name, key_id, principal),
        )


class AgentsController(Controller, _KeysMixin):
    """`/organizations/{organization}/agents`."""

    path = "/organizations/{organization:str}/agents"
    tags = ["rbac"]

    @post(
        "/",
        opt={"action": "CreateAgent", "body_resource": "agent"},
        operation_id="createAgent",
        sync_to_thread=True,
    )
    def create(
        self,
        data: JSONBody[CreateAgentRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> Agent:
        require_named(container, principal, org, "CreateAgent", "agent", data.name)
        agent = settled(
            container,
            container.organizations.create_agent(
                org.org_id,
                name=data.name,
                description=data.description,
                metadata=data.metadata,
                inline_policy=data.inline_policy,
                principal=principal,
            ),
        )
        return _agent(container, org, agent.name)

    @get("/", opt={"action": "ListAgents"}, operation_id="listAgents", sync_to_thread=True)
    def index(
        self,
        org: OrgDep,
        container: ContainerDep,
        after: FromQuery[str | None] = None,
        amount: FromQuery[int | None] = None,
    ) -> dict[str, Any]:
        size = page.size(amount)
        rows = list_agents(container.db, org.org_id, after=after or "", amount=size + 1)
        return page.of([Agent(**r).model_dump() for r in rows], size, key="name")

    @get(
        "/{agent_name:str}",
        opt={"action": "GetAgent"},
        operation_id="getAgent",
        sync_to_thread=True,
    )
    def read(self, agent_name: FromPath[str], org: OrgDep, container: ContainerDep) -> Agent:
        return _agent(container, org, agent_name)

    @put(
        "/{agent_name:str}",
        opt={"action": "UpdateAgent"},
        operation_id="updateAgent",
        sync_to_thread=True,
    )
    def update(
        self,
        agent_name: FromPath[str],
        data: JSONBody[UpdateAgentRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> Agent:
        settled(
            container,
            container.organizations.update_agent(
                org.org_id,
                agent_name,
                description=data.description,
                metadata=data.metadata,
                inline_policy=data.inline_policy,
                principal=principal,
            ),
        )
        return _agent(container, org, agent_name)

    @delete(
        "/{agent_name:str}",
        opt={"action": "DeleteAgent"},
        operation_id="deleteAgent",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def remove(
        self,
        agent_name: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> None:
        settled(container, container.organizations.delete_agent(org.org_id, agent_name, principal))

    @post(
        "/{agent_name:str}/auth/keys",
        opt={"action": "CreateAgentAPIKey"},
        operation_id="createAgentAPIKey",
        sync_to_thread=True,
    )
    def create_key(
        self,
        agent_name: FromPath[str],
        data: JSONBody[CreateKeyRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> APITokenCreated:
        return self._create_key(container, org, "agent", agent_name, data, principal)

    @get(
        "/{agent_name:str}/auth/keys",
        opt={"action": "ListAgentAPIKeys"},
        operation_id="listAgentAPIKeys",
        sync_to_thread=True,
    )
    def list_keys(
        self, agent_name: FromPath[str], org: OrgDep, container: ContainerDep
    ) -> APITokenList:
        return self._keys(container, org, "agent", agent_name)

    @get(
        "/{agent_name:str}/auth/keys/{key_id:str}",
        opt={"action": "ListAgentAPIKeys"},
        operation_id="getAgentAPIKey",
        sync_to_thread=True,
    )
    def get_key(
        self, agent_name: FromPath[str], key_id: FromPath[str], org: OrgDep, container: ContainerDep
    ) -> APIToken:
        return self._key(container, org, "agent", agent_name, key_id)

    @delete(
        "/{agent_name:str}/auth/keys/{key_id:str}",
        opt={"action": "RevokeAgentAPIKey"},
        operation_id="revokeAgentAPIKey",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def revoke_key(
        self,
        agent_name: FromPath[str],
        key_id: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> None:
        settled(
            container,
            container.organizations.revoke_key(org.org_id, "agent", agent_name, key_id, principal),
        )
