"""The browser session cookies: `tilde_session` (HttpOnly JWT) and `tilde_csrf`."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie

from domain.identity.login_session import LoginSession
from infra.bootstrap import Container
from interfaces.http.auth import CSRF_COOKIE, SESSION_COOKIE


def is_https(request: Request[Any, Any, Any], container: Container) -> bool:
    if request.url.scheme == "https" or container.settings.base_url.startswith("https://"):
        return True
    return (
        container.settings.trust_forwarded_for
        and request.headers.get("x-forwarded-proto", "") == "https"
    )


def session_cookies(
    request: Request[Any, Any, Any], container: Container, session: LoginSession
) -> list[Cookie]:
    csrf = secrets.token_urlsafe(32)
    jwt = container.session_tokens.issue(
        user_id=session.user_id,
        session_id=str(session.id),
        csrf_token=csrf,
        expires_at=session.expires_at,
    )
    secure = is_https(request, container)
    max_age = int((session.expires_at - container.identity.clock()).total_seconds())
    return [
        Cookie(
            key=SESSION_COOKIE,
            value=jwt,
            httponly=True,
            samesite="lax",
            secure=secure,
            path="/",
            max_age=max_age,
        ),
        Cookie(
            key=CSRF_COOKIE,
            value=csrf,
            httponly=False,
            samesite="lax",
            secure=secure,
            path="/",
            max_age=max_age,
        ),
    ]


def cleared_cookies() -> list[Cookie]:
    return [
        Cookie(key=name, value="", path="/", max_age=0, expires=0)
        for name in (SESSION_COOKIE, CSRF_COOKIE)
    ]
