"""The organization's audit log (an extension beyond the spec; Owner-only by default)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import FromQuery, QueryParameter

from domain.shared.errors import Invalid
from domain.shared.values import iso, parse_iso
from interfaces.http.deps import ContainerDep, OrgDep
from interfaces.http.pagination import page
from interfaces.http.schemas.admin import AuditLog
from projections.organizations.audit import audit_page


def _instant(value: str | None, name: str) -> str:
    if not value:
        return ""
    try:
        return iso(parse_iso(value)) or ""
    except ValueError:
        raise Invalid(f"{name} must be an RFC 3339 timestamp") from None


class AuditController(Controller):
    """`GET /organizations/{organization}/audit`."""

    path = "/organizations/{organization:str}/audit"
    tags = ["organizations"]

    @get("/", opt={"action": "ReadAuditLog"}, operation_id="getAuditLog", sync_to_thread=True)
    def index(
        self,
        org: OrgDep,
        container: ContainerDep,
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        actor: Annotated[str | None, QueryParameter(name="principal")] = None,
        event_type: FromQuery[str | None] = None,
        after: FromQuery[str | None] = None,
        amount: FromQuery[int | None] = None,
    ) -> AuditLog:
        size = page.size(amount)
        if after and after.count("|") != 2:
            raise Invalid("after must be a cursor from a previous page")
        rows = audit_page(
            container.db,
            org.org_id,
            since=_instant(since, "since"),
            until=_instant(until, "until"),
            actor=actor or "",
            event_type=event_type or "",
            after=after or "",
            amount=size + 1,
        )
        return AuditLog.of(page.of(rows, size, key="cursor"))
