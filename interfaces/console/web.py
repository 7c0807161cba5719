"""Request and response helpers shared by the console controllers."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request, Response

from application.principal import Principal
from domain.shared.errors import DomainError
from infra.bootstrap import Container
from interfaces.http.auth import CSRF_COOKIE, authenticate

HTML = "text/html; charset=utf-8"


def html(body: str, status: int = 200) -> Response[str]:
    return Response(body, media_type=HTML, status_code=status)


def signed_in(request: Request[Any, Any, Any], container: Container) -> Principal | None:
    """The principal of the session cookie, or None (pages redirect to sign-in instead of 401)."""
    try:
        result = authenticate(container, {}, dict(request.cookies), "")
    except DomainError:
        return None
    return result.principal if result else None


async def read_form(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


def csrf_ok(request: Request[Any, Any, Any], form: dict[str, str]) -> bool:
    """The form echoes the CSRF cookie (double-submit), compared in constant time."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), form.get("csrf", "").encode())
