"""Organizations and their members."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from application.trash import Trash
from domain.shared.errors import Invalid, NotFound
from interfaces.http.deps import ContainerDep, OrgDep, PrincipalDep, settled
from interfaces.http.schemas.errors import errors
from interfaces.http.schemas.organizations import (
    AddMemberRequest,
    CreateOrgRequest,
    Membership,
    MembershipList,
    NameCheck,
    Organization,
    OrganizationList,
)
from projections.organizations.organizations import get_org, list_members, orgs_of_user


class OrganizationsController(Controller):
    """`/organizations`, `/organizations/{organization}`, members."""

    path = "/organizations"
    tags = ["organizations"]

    @post(
        "/",
        opt={"action": "CreateOrganization"},
        operation_id="createOrg",
        responses=errors(409),
        sync_to_thread=True,
    )
    def create(
        self, data: JSONBody[CreateOrgRequest], principal: PrincipalDep, container: ContainerDep
    ) -> Organization:
        result = container.organizations.create_organization(
            name=data.name, display_name=data.display_name, principal=principal
        )
        org = settled(container, result)
        row = get_org(container.db, str(org.id))
        assert row is not None
        return Organization(**row)

    @get("/", opt={"action": "ListOrganizations"}, operation_id="listOrgs", sync_to_thread=True)
    def index(self, principal: PrincipalDep, container: ContainerDep) -> OrganizationList:
        if principal.is_user:
            rows = orgs_of_user(container.db, principal.id)
        else:
            row = get_org(container.db, principal.organization_id)
            rows = [row] if row else []
        return OrganizationList(results=[Organization(**r) for r in rows])

    @get(
        "/check-name",
        opt={"action": "CheckOrganizationName"},
        operation_id="checkOrgName",
        sync_to_thread=True,
    )
    def check_name(self, container: ContainerDep, name: FromQuery[str | None] = None) -> NameCheck:
        if not name:
            raise Invalid("name is required")
        available, reason = container.organizations.name_status(name)
        return NameCheck(available=available, reason=reason)

    @get(
        "/{organization:str}",
        opt={"action": "GetOrganization"},
        operation_id="getOrg",
        sync_to_thread=True,
    )
    def read(self, org: OrgDep, container: ContainerDep) -> Organization:
        row = get_org(container.db, org.org_id)
        if row is None:
            raise NotFound("organization not found")
        return Organization(**row)

    @delete(
        "/{organization:str}",
        opt={"action": "DeleteOrganization"},
        operation_id="deleteOrg",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def remove(self, org: OrgDep, principal: PrincipalDep, container: ContainerDep) -> None:
        """409 naming its repositories while any remains; else a soft delete the operator can
        undo (`tilde-server organizations restore`) until garbage collection purges it."""
        trash = container.service("trash", Trash)
        settled(container, trash.delete_organization(org.org_id, principal))

    @get(
        "/{organization:str}/members",
        opt={"action": "ListMembers"},
        operation_id="listMembers",
        sync_to_thread=True,
    )
    def members(self, org: OrgDep, container: ContainerDep) -> MembershipList:
        return MembershipList(
            results=[Membership(**m) for m in list_members(container.db, org.org_id)]
        )

    @post(
        "/{organization:str}/members",
        opt={"action": "AddMember"},
        operation_id="addMember",
        sync_to_thread=True,
    )
    def add_member(
        self,
        data: JSONBody[AddMemberRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> Membership:
        settled(container, container.organizations.add_member(org.org_id, data.username, principal))
        member = next(
            (m for m in list_members(container.db, org.org_id) if m["username"] == data.username),
            None,
        )
        if member is None:
            raise NotFound(f"user '{data.username}' not found")
        return Membership(**member)

    @delete(
        "/{organization:str}/members/{user_id:str}",
        opt={"action": "RemoveMember"},
        operation_id="removeMember",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def remove_member(
        self, user_id: FromPath[str], org: OrgDep, principal: PrincipalDep, container: ContainerDep
    ) -> None:
        settled(container, container.organizations.remove_member(org.org_id, user_id, principal))
