"""Authentication (Bearer, Basic, session cookie — with fall-through) and the action guard."""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import structlog
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from application.authz import OrgSnapshot
from application.principal import Principal
from domain.identity.errors import AccountLocked, PendingApproval, RateLimited
from domain.shared.actions import Action, get_action
from domain.shared.errors import DomainError, Forbidden, Unauthenticated
from infra.bootstrap import Container
from infra.crypto.tokens import csrf_hash
from interfaces.http.context import client_ip
from interfaces.http.resources import (
    ALSO_READS,
    BODY_RESOURCE,
    declared_path,
    object_values,
    refuse_nul_characters,
    refuse_repeated_query,
)

SESSION_COOKIE = "tilde_session"
CSRF_COOKIE = "tilde_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
ORG_SCOPES = ("organization", "repository")
# When several credentials fail, the most specific reason wins.
_PRECEDENCE = (AccountLocked, RateLimited, PendingApproval)
# What a sandbox's `tst-` token may never do, whatever its principal may: mint credentials that
# would outlive the sandbox (its tokens are revoked when it ends) or take over the account.
SANDBOX_TOKEN_REFUSED = frozenset(
    {
        "CreateAPIKey", "CreateRoleAPIKey", "CreateAgentAPIKey", "ConfirmDevice",
        "SetCurrentUserPassword",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Authenticated:
    principal: Principal
    csrf_hash: str = ""


def _basic(value: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, sep, password = decoded.partition(":")
    return (login, password) if sep and login else None


def authenticate(
    container: Container, headers: Any, cookies: dict[str, str], ip: str
) -> Authenticated | None:
    """Try the Authorization header, then the session cookie; None when none was presented."""
    failures: list[DomainError] = []
    identity = container.identity
    header = headers.get("authorization", "")
    if header:
        scheme, _, credentials = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and credentials.strip():
            principal = identity.authenticate_bearer(credentials.strip())
            if principal is not None:
                return Authenticated(principal)
            failures.append(Unauthenticated("the API key is invalid, revoked or expired"))
        elif scheme == "basic" and (pair := _basic(credentials)) is not None:
            try:
                return Authenticated(identity.authenticate_basic(pair[0], pair[1], ip))
            except DomainError as e:
                failures.append(e)
        else:
            failures.append(Unauthenticated("unsupported or malformed Authorization header"))
    token = cookies.get(SESSION_COOKIE)
    if token:
        claims = container.session_tokens.decode(token)
        principal = (
            identity.authenticate_session(claims.session_id, claims.user_id) if claims else None
        )
        if principal is not None and claims is not None:
            return Authenticated(principal, claims.csrf_hash)
        failures.append(Unauthenticated("the session has expired; sign in again"))
    if not failures:
        return None
    for kind in _PRECEDENCE:
        for failure in failures:
            if isinstance(failure, kind):
                raise failure
    raise (
        failures[0]
        if isinstance(failures[0], Unauthenticated)
        else Unauthenticated("authentication failed")
    )


def check_csrf(connection: ASGIConnection[Any, Any, Any, Any], expected_hash: str) -> None:
    """Double submit: the header must echo the `tilde_csrf` cookie the session was issued with."""
    header = connection.headers.get(CSRF_HEADER, "")
    cookie = connection.cookies.get(CSRF_COOKIE, "")
    if (
        not header
        # Bytes: compare_digest refuses non-ASCII str (a forged header must be a 403, not a 500).
        or not hmac.compare_digest(header.encode(), cookie.encode())
        or not hmac.compare_digest(csrf_hash(header).encode(), expected_hash.encode())
    ):
        raise Forbidden(
            "missing or invalid X-CSRF-Token header (required for cookie-"
            "authenticated requests that change state)",
            code="CSRF_FAILED",
        )


def resource_of(
    connection: ASGIConnection[Any, Any, Any, Any],
    handler: BaseRouteHandler,
    snap: OrgSnapshot,
    action: Action,
) -> dict[str, str]:
    """The attributes a policy line may test. The object path comes only from the query
    parameter the route declares (validated, and parked for the handler to use)."""
    params = connection.path_params
    resource: dict[str, str] = {}
    if "repository" in params:
        resource["repository"] = str(params["repository"])
    values = object_values(connection, handler)
    connection.state.object_values = values
    if (name := declared_path(handler)) is not None:
        resource["path"] = values[name]
    if "group_id" in params and str(params["group_id"]) in snap.groups:
        resource["group"] = snap.groups[str(params["group_id"])][0]
    if "policy_id" in params and str(params["policy_id"]) in snap.policies:
        resource["policy"] = snap.policies[str(params["policy_id"])].name
    if "role_name" in params:
        resource["role"] = str(params["role_name"])
    if "agent_name" in params:
        resource["agent"] = str(params["agent_name"])
        agent = snap.agent_by_name(resource["agent"])
        if agent is not None:
            resource["agent_owner"] = agent.created_by
    if "connector_id" in params:
        resource["connector"] = str(params["connector_id"])
    return {k: v for k, v in resource.items() if k in action.resources}


def named(snap: OrgSnapshot | None, org: str) -> OrgSnapshot | None:
    """`snap` if `org` is its name: the spec's `{organization}` is a name, and an id in its
    place must not reach (say, delete) the organization it identifies."""
    return snap if snap is not None and snap.name == org else None


def remembered_bearer(container: Container, authorization: str) -> Principal | None:
    """The principal of an `Authorization: Bearer` key verified moments ago, from memory
    alone; None when deciding needs I/O (or the header is not a Bearer key)."""
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return container.identity.remembered_bearer(credentials.strip())


def remembered_member(container: Container, principal: Principal, org: str) -> OrgSnapshot | None:
    """The organization `org` as `principal` sees it, from a current cached snapshot (NotFound
    when the principal does not belong to it); None when the snapshot needs I/O."""
    cached = container.authorizer.cached(org)
    if cached is None:
        return None
    return container.authorizer.member_view(principal, org, named(cached, org))


def check_allowed(
    snap: OrgSnapshot,
    principal: Principal,
    action: str,
    resource: dict[str, str],
    unknown: frozenset[str] = frozenset(),
) -> None:
    """Forbidden unless the organization's policies let `principal` do `action` on `resource`."""
    if not snap.allows(principal.type, principal.id, action, resource, unknown):
        raise Forbidden(f"{principal.type} '{principal.name}' may not {action} here")


def _admit_from_memory(
    container: Container,
    connection: ASGIConnection[Any, Any, Any, Any],
    handler: BaseRouteHandler,
    action: Action,
) -> tuple[Authenticated, OrgSnapshot | None] | None:
    """`_admit` for the steady case — a Bearer key verified moments ago, an organization
    snapshot that is current — decided from memory on the event loop, saving the request a
    thread hop. None when anything needs I/O (the caller then runs `_admit` in a thread)."""
    principal = remembered_bearer(container, connection.headers.get("authorization", ""))
    if principal is None:
        return None
    result = Authenticated(principal)
    if action.scope not in ORG_SCOPES:
        return result, None
    org = str(connection.path_params.get("organization", ""))
    snap = remembered_member(container, principal, org)
    if snap is None:
        return None
    return result, _authorize(connection, handler, action, principal, snap)


def _authorize(
    connection: ASGIConnection[Any, Any, Any, Any],
    handler: BaseRouteHandler,
    action: Action,
    principal: Principal,
    snap: OrgSnapshot,
) -> OrgSnapshot:
    resource = resource_of(connection, handler, snap, action)
    # A name that arrives in the body is checked exactly by the handler (require_named).
    body_resource = handler.opt.get(BODY_RESOURCE)
    unknown = frozenset({body_resource}) if body_resource else frozenset()
    check_allowed(snap, principal, action.name, resource, unknown)
    if source := handler.opt.get(ALSO_READS):  # a copy must not read what one may not read
        read = {**resource, "path": connection.state.object_values[source]}
        if not snap.allows(principal.type, principal.id, "GetObject", read):
            raise Forbidden(f"{principal.type} '{principal.name}' may not GetObject {source}")
    return snap


def _admit(
    container: Container,
    connection: ASGIConnection[Any, Any, Any, Any],
    handler: BaseRouteHandler,
    action: Action,
    ip: str,
) -> tuple[Authenticated, OrgSnapshot | None]:
    """Authenticate, and for organization/repository actions authorize (one thread hop)."""
    result = authenticate(container, connection.headers, dict(connection.cookies), ip)
    if result is None:
        raise Unauthenticated(
            "authentication required: use an API key (Bearer), HTTP Basic, or sign in"
        )
    if action.scope not in ORG_SCOPES:
        return result, None
    org = str(connection.path_params.get("organization", ""))
    authorizer = container.authorizer
    snap = authorizer.member_view(result.principal, org, named(authorizer.snapshot(org), org))
    return result, _authorize(connection, handler, action, result.principal, snap)


async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Every route's gate: authenticate, then enforce the route's declared action scope."""
    refuse_repeated_query(connection, handler)
    refuse_nul_characters(connection)
    if "action" not in handler.opt and connection.scope.get("method") == "OPTIONS":
        return  # Litestar's automatic OPTIONS answer (lists the allowed methods)
    action = get_action(str(handler.opt.get("action", "")))
    if action is None:
        raise RuntimeError(f"route {handler} declares no known authorization action")
    connection.state.action = action.name
    if action.scope == "public":
        return
    container: Container = connection.app.state.container
    ip = client_ip(connection.scope, trust_forwarded_for=container.settings.trust_forwarded_for)
    admitted = _admit_from_memory(container, connection, handler, action)
    if admitted is None:
        admitted = await anyio.to_thread.run_sync(
            _admit, container, connection, handler, action, ip
        )
    result, snap = admitted
    principal = result.principal
    connection.state.principal = principal
    connection.state.org = snap
    if principal.via == "sandbox":
        # The request's log lines name the sandbox whose token made it.
        structlog.contextvars.bind_contextvars(sandbox_id=principal.sandbox_id)
        if action.name in SANDBOX_TOKEN_REFUSED:
            raise Forbidden(f"a sandbox's token may not {action.name}: it ends with the sandbox")
    if principal.via == "cookie" and connection.scope.get("method") not in SAFE_METHODS:
        check_csrf(connection, result.csrf_hash)
    if action.scope == "user" and not principal.is_user:
        raise Forbidden(f"{action.name} is only available to users, not {principal.type}s")
    if action.scope == "admin" and not (principal.is_user and principal.is_admin):
        raise Forbidden(f"{action.name} requires a server operator")
