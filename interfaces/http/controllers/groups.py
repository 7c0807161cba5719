"""Groups: CRUD, members, and a principal's effective groups."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from domain.shared.errors import NotFound
from interfaces.http.deps import ContainerDep, OrgDep, PrincipalDep, require_named, settled
from interfaces.http.pagination import page
from interfaces.http.principals import subject_of
from interfaces.http.schemas.errors import errors, no_body
from interfaces.http.schemas.organizations import (
    AttachmentRecord,
    CreateGroupRequest,
    EffectiveGroup,
    EffectiveGroupList,
    Group,
    GroupList,
    GroupMember,
    GroupMemberRequest,
    GroupWithMembers,
    UpdateGroupRequest,
)
from projections.organizations.groups import get_group, group_members, list_groups
from projections.organizations.policies import attachments


def _group(container: ContainerDep, org_id: str, group_id: str) -> Group:
    row = get_group(container.db, org_id, group_id)
    if row is None:
        raise NotFound("group not found")
    return Group(**row)


class GroupsController(Controller):
    """`/organizations/{organization}/groups` and `/effective-groups`."""

    path = "/organizations/{organization:str}"
    tags = ["rbac"]

    @post(
        "/groups",
        opt={"action": "CreateGroup", "body_resource": "group"},
        operation_id="createGroup",
        responses=errors(409),
        sync_to_thread=True,
    )
    def create(
        self,
        data: JSONBody[CreateGroupRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> Group:
        require_named(container, principal, org, "CreateGroup", "group", data.name)
        result = container.organizations.create_group(
            org.org_id, name=data.name, description=data.description, principal=principal
        )
        return _group(container, org.org_id, str(settled(container, result).id))

    @get("/groups", opt={"action": "ListGroups"}, operation_id="listGroups", sync_to_thread=True)
    def index(
        self,
        org: OrgDep,
        container: ContainerDep,
        after: FromQuery[str | None] = None,
        amount: FromQuery[int | None] = None,
    ) -> GroupList:
        size = page.size(amount)
        rows = list_groups(container.db, org.org_id, after=after or "", amount=size + 1)
        return GroupList.model_validate(page.of(rows, size, key="name"))

    @get(
        "/groups/{group_id:str}",
        opt={"action": "GetGroup"},
        operation_id="getGroup",
        sync_to_thread=True,
    )
    def read(
        self, group_id: FromPath[str], org: OrgDep, container: ContainerDep
    ) -> GroupWithMembers:
        group = _group(container, org.org_id, group_id)
        return GroupWithMembers(
            group=group,
            members=[GroupMember(**m) for m in group_members(container.db, group_id)],
            attachments=[
                AttachmentRecord(**a)
                for a in attachments(container.db, org.org_id)
                if a["principal_type"] == "group" and a["principal_id"] == group_id
            ],
        )

    @put(
        "/groups/{group_id:str}",
        opt={"action": "UpdateGroup"},
        operation_id="updateGroup",
        responses=errors(409),
        sync_to_thread=True,
    )
    def update(
        self,
        group_id: FromPath[str],
        data: JSONBody[UpdateGroupRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> Group:
        settled(
            container,
            container.organizations.update_group(
                org.org_id,
                group_id,
                name=data.name,
                description=data.description,
                principal=principal,
            ),
        )
        return _group(container, org.org_id, group_id)

    @delete(
        "/groups/{group_id:str}",
        opt={"action": "DeleteGroup"},
        operation_id="deleteGroup",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def remove(
        self, group_id: FromPath[str], org: OrgDep, principal: PrincipalDep, container: ContainerDep
    ) -> None:
        settled(container, container.organizations.delete_group(org.org_id, group_id, principal))

    @post(
        "/groups/{group_id:str}/members",
        opt={"action": "AddGroupMember"},
        operation_id="addGroupMember",
        responses={**no_body(201, "Member added"), **errors(409)},
        sync_to_thread=True,
    )
    def add_member(
        self,
        group_id: FromPath[str],
        data: JSONBody[GroupMemberRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> Response[None]:
        settled(
            container,
            container.organizations.add_group_member(
                org.org_id,
                group_id,
                subject_type=data.subject_type,
                subject_id=data.subject_id,
                principal=principal,
            ),
        )
        return Response(None, status_code=HTTP_201_CREATED)

    @delete(
        "/groups/{group_id:str}/members",
        opt={"action": "RemoveGroupMember"},
        operation_id="removeGroupMember",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def remove_member(
        self,
        group_id: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
        subject_type: FromQuery[str | None] = None,
        subject_id: FromQuery[str | None] = None,
    ) -> None:
        settled(
            container,
            container.organizations.remove_group_member(
                org.org_id,
                group_id,
                subject_type=subject_type,
                subject_id=subject_id,
                principal=principal,
            ),
        )

    @get(
        "/effective-groups",
        opt={"action": "GetEffectiveGroups"},
        operation_id="getEffectiveGroups",
        sync_to_thread=True,
    )
    def effective(
        self,
        org: OrgDep,
        principal: PrincipalDep,
        user_id: FromQuery[str | None] = None,
        principal_type: FromQuery[str | None] = None,
        principal_id: FromQuery[str | None] = None,
    ) -> EffectiveGroupList:
        kind, ident = subject_of(org, principal, user_id, principal_type, principal_id)
        return EffectiveGroupList(
            results=[EffectiveGroup(**vars(g)) for g in org.effective_groups(kind, ident)]
        )
