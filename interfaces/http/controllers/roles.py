"""Roles, with their API keys."""

from __future__ import annotations

from litestar import Controller, delete, get, post
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
    CreateKeyRequest,
    CreateRoleRequest,
    Role,
    RoleList,
)
from projections.organizations.principals import list_roles


def _role(container: Container, org: OrgSnapshot, name: str) -> Role:
    rows = list_roles(container.db, org.org_id, name=name)
    if not rows:
        raise NotFound(f"role '{name}' not found")
    return Role(**rows[0])


class RolesController(Controller):
    """`/organizations/{organization}/roles`."""

    path = "/organizations/{organization:str}/roles"
    tags = ["rbac"]

    @post(
        "/",
        opt={"action": "CreateRole", "body_resource": "role"},
        operation_id="createRole",
        responses=errors(409),
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
    ) -> RoleList:
        size = page.size(amount)
        rows = list_roles(container.db, org.org_id, after=after or "", amount=size + 1)
        return RoleList.model_validate(page.of(rows, size, key="name"))

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
        return create_principal_key(container, org, "role", role_name, data, principal)

    @get(
        "/{role_name:str}/auth/keys",
        opt={"action": "ListRoleAPIKeys"},
        operation_id="listRoleAPIKeys",
        sync_to_thread=True,
    )
    def list_keys(
        self, role_name: FromPath[str], org: OrgDep, container: ContainerDep
    ) -> APITokenList:
        return principal_keys(container, org, "role", role_name)

    @get(
        "/{role_name:str}/auth/keys/{key_id:str}",
        opt={"action": "ListRoleAPIKeys"},
        operation_id="getRoleAPIKey",
        sync_to_thread=True,
    )
    def get_key(
        self, role_name: FromPath[str], key_id: FromPath[str], org: OrgDep, container: ContainerDep
    ) -> APIToken:
        return principal_key(container, org, "role", role_name, key_id)

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
