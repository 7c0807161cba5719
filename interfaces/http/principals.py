"""Which principal an `effective-*` query is about."""

from __future__ import annotations

from application.authz import OrgSnapshot
from application.principal import Principal
from domain.shared.errors import Invalid, NotFound


def subject_of(
    org: OrgSnapshot,
    caller: Principal,
    user_id: str | None,
    principal_type: str | None,
    principal_id: str | None,
) -> tuple[str, str]:
    """`user_id`, or `principal_type`+`principal_id`, or the caller itself."""
    if user_id:
        kind, ident = "user", user_id
    elif principal_type or principal_id:
        if not (principal_type and principal_id):
            raise Invalid("give both principal_type and principal_id")
        kind, ident = principal_type, principal_id
    else:
        kind, ident = caller.type, caller.id
    if kind not in ("user", "group", "role", "agent"):
        raise Invalid("principal_type must be user, group, role or agent")
    if not org.knows(kind, ident):
        raise NotFound(f"{kind} {ident} not found in this organization")
    return kind, ident
