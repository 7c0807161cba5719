"""Operator routes (an extension beyond the spec): list and approve signups."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post

from application.principal import Principal
from domain.shared.errors import Invalid
from infra.bootstrap import Container
from interfaces.http.deps import settled
from interfaces.http.pagination import page
from interfaces.http.schemas.identity import User
from projections.identity.users import list_users


class AdminController(Controller):
    """`/admin/users` — for server operators (users created by `users create-admin`)."""

    path = "/admin/users"
    tags = ["admin"]

    @get("/", opt={"action": "AdminListUsers"}, operation_id="adminListUsers",
         sync_to_thread=True)
    def list(self, principal: Principal, container: Container, status: str | None = None,
             after: str | None = None, amount: int | None = None) -> dict[str, Any]:
        if status not in (None, "pending", "active", "deleted"):
            raise Invalid("status must be pending, active or deleted")
        size = page.size(amount)
        rows = list_users(container.db, status=status, after=after or "", amount=size + 1)
        results = [{k: r[k] for k in ("id", "username", "email", "full_name", "status",
                                      "is_admin", "created_at", "approved_at")} for r in rows]
        return page.of(results, size, key="username")

    @post("/{username:str}/approve", opt={"action": "AdminApproveUser"},
          operation_id="adminApproveUser", status_code=200, sync_to_thread=True)
    def approve(self, username: str, principal: Principal, container: Container) -> User:
        return User.of(settled(container, container.identity.approve(username, principal.actor)))
