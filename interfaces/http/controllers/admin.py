"""Operator routes (an extension beyond the spec): list and approve signups."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery

from domain.shared.errors import Invalid
from interfaces.http.deps import ContainerDep, PrincipalDep, settled
from interfaces.http.pagination import page
from interfaces.http.schemas.admin import AdminUserList
from interfaces.http.schemas.identity import User
from projections.identity.users import list_users


class AdminController(Controller):
    """`/admin/users` — for server operators (users created by `users create-admin`)."""

    path = "/admin/users"
    tags = ["admin"]

    @get("/", opt={"action": "AdminListUsers"}, operation_id="adminListUsers", sync_to_thread=True)
    def index(
        self,
        principal: PrincipalDep,
        container: ContainerDep,
        status: FromQuery[str | None] = None,
        after: FromQuery[str | None] = None,
        amount: FromQuery[int | None] = None,
    ) -> AdminUserList:
        if status not in (None, "pending", "active", "deleted"):
            raise Invalid("status must be pending, active or deleted")
        size = page.size(amount)
        rows = list_users(container.db, status=status, after=after or "", amount=size + 1)
        results = [
            {
                k: r[k]
                for k in (
                    "id",
                    "username",
                    "email",
                    "full_name",
                    "status",
                    "is_admin",
                    "created_at",
                    "approved_at",
                )
            }
            for r in rows
        ]
        return AdminUserList.of(page.of(results, size, key="username"))

    @post(
        "/{username:str}/approve",
        opt={"action": "AdminApproveUser"},
        operation_id="adminApproveUser",
        status_code=200,
        sync_to_thread=True,
    )
    def approve(
        self, username: FromPath[str], principal: PrincipalDep, container: ContainerDep
    ) -> User:
        return User.of(settled(container, container.identity.approve(username, principal.actor)))
