"""Agents, with their API keys."""

from __future__ import annotations

from litestar import Controller, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from application.authz import OrgSnapshot
from domain.shared.errors import NotFound
from infra.bootstrap import Container
from interfaces.http.controllers.principal_keys import (
    create_principal_key,
    principal_key,
    principal_keys,
)
from interfaces.http.deps import ContainerDep, OrgDep, PrincipalDep, require_named, settled
from interfaces.http.pagination import page
from interfaces.http.schemas.errors import errors
from interfaces.http.schemas.identity import APIToken, APITokenCreated, APITokenList
from interfaces.http.schemas.organizations import (
    Agent,
    AgentList,
    CreateAgentRequest,
    CreateKeyRequest,
    UpdateAgentRequest,
)
from projections.organizations.principals import list_agents


def _agent(container: Container, org: OrgSnapshot, name: str) -> Agent:
    rows = list_agents(container.db, org.org_id, name=name)
    if not rows:
        raise NotFound(f"agent '{name}' not found")
    return Agent(**rows[0])


class AgentsController(Controller):
    """`/organizations/{organization}/agents`."""

    path = "/organizations/{organization:str}/agents"
    tags = ["rbac"]

    @post(
        "/",
        opt={"action": "CreateAgent", "body_resource": "agent"},
        operation_id="createAgent",
        responses=errors(409),
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
    ) -> AgentList:
        size = page.size(amount)
        rows = list_agents(container.db, org.org_id, after=after or "", amount=size + 1)
        return AgentList.model_validate(page.of(rows, size, key="name"))

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
        return create_principal_key(container, org, "agent", agent_name, data, principal)

    @get(
        "/{agent_name:str}/auth/keys",
        opt={"action": "ListAgentAPIKeys"},
        operation_id="listAgentAPIKeys",
        sync_to_thread=True,
    )
    def list_keys(
        self, agent_name: FromPath[str], org: OrgDep, container: ContainerDep
    ) -> APITokenList:
        return principal_keys(container, org, "agent", agent_name)

    @get(
        "/{agent_name:str}/auth/keys/{key_id:str}",
        opt={"action": "ListAgentAPIKeys"},
        operation_id="getAgentAPIKey",
        sync_to_thread=True,
    )
    def get_key(
        self, agent_name: FromPath[str], key_id: FromPath[str], org: OrgDep, container: ContainerDep
    ) -> APIToken:
        return principal_key(container, org, "agent", agent_name, key_id)

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
