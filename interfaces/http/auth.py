"""Authentication (Bearer, Basic, session cookie — with fall-through) and the action guard."""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from application.principal import Principal
from domain.identity.errors import AccountLocked, PendingApproval, RateLimited
from domain.shared.actions import get_action
from domain.shared.errors import DomainError, Forbidden, Unauthenticated
from infra.bootstrap import Container
from infra.crypto.tokens import csrf_hash
from interfaces.http.context import client_ip

SESSION_COOKIE = "tilde_session"
CSRF_COOKIE = "tilde_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# When several credentials fail, the most specific reason wins.
_PRECEDENCE = (AccountLocked, RateLimited, PendingApproval)


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
        or not hmac.compare_digest(header, cookie)
        or not hmac.compare_digest(csrf_hash(header), expected_hash)
    ):
        raise Forbidden(
            "missing or invalid X-CSRF-Token header (required for cookie-"
            "authenticated requests that change state)",
            code="CSRF_FAILED",
        )


async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Every route's gate: authenticate, then enforce the route's declared action scope."""
    action = get_action(str(handler.opt.get("action", "")))
    if action is None:
        raise RuntimeError(f"route {handler} declares no known authorization action")
    connection.state.action = action.name
    if action.scope == "public":
        return
    container: Container = connection.app.state.container
    ip = client_ip(connection.scope, trust_forwarded_for=container.settings.trust_forwarded_for)
    result = await anyio.to_thread.run_sync(
        authenticate, container, connection.headers, dict(connection.cookies), ip
    )
    if result is None:
        raise Unauthenticated(
            "authentication required: use an API key (Bearer), HTTP Basic, or sign in"
        )
    principal = result.principal
    connection.state.principal = principal
    if principal.via == "cookie" and connection.scope.get("method") not in SAFE_METHODS:
        check_csrf(connection, result.csrf_hash)
    if action.scope == "user" and not principal.is_user:
        raise Forbidden(f"{action.name} is only available to users, not {principal.type}s")
    if action.scope == "admin" and not (principal.is_user and principal.is_admin):
        raise Forbidden(f"{action.name} requires a server operator")
