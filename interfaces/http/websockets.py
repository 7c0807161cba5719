"""WebSocket refusals as HTTP answers: an error before the upgrade is accepted (the guard's
401/403, a handler's 404/410/503) reaches the client as the status and the spec's error body
`{message, code, request_id}` (ASGI's WebSocket denial response), not as Litestar's bare
close frame (which servers turn into a 403 without a body).

Litestar's exception middleware catches the error first and sends a close; its
`after_exception` hook (`remember_error`, installed on the app) parks the error in the
connection's scope, and the route middleware `refuse_before_accept` turns that close into
the denial."""

from __future__ import annotations

import json
from typing import Any

import structlog
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from domain.shared.errors import DomainError
from interfaces.http.context import request_id
from interfaces.http.errors import HTTP_CODES, status_for

log = structlog.get_logger("tilde.http")
_ERROR = "websocket_error"


async def remember_error(exc: Exception, scope: Scope) -> None:
    """`after_exception` hook: keep a WebSocket connection's error for the refusal."""
    if scope.get("type") == "websocket":
        scope.setdefault("state", {})[_ERROR] = exc  # type: ignore[typeddict-item]


def refusal(exc: BaseException | None) -> tuple[int, str, str]:
    """(status, message, code) of the error behind a refused upgrade."""
    if isinstance(exc, DomainError):
        return status_for(type(exc)), exc.message, exc.code
    if isinstance(exc, HTTPException):
        return exc.status_code, exc.detail, HTTP_CODES.get(exc.status_code, "ERROR")
    return 500, "internal server error", "INTERNAL_ERROR"


async def deny(scope: Scope, send: Send, status: int, message: str, code: str) -> None:
    """Refuse the upgrade with an HTTP answer; a server without the denial extension gets a
    close with code 4000 + status and the message as its reason."""
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 4000 + status, "reason": message[:120]})
        return
    rid = request_id(scope)
    body = json.dumps({"message": message, "code": code, "request_id": rid}).encode()
    headers = [(b"content-type", b"application/json"), (b"x-request-id", rid.encode())]
    if status == 503:
        headers.append((b"retry-after", b"1"))
    start: Any = {"type": "websocket.http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "websocket.http.response.body", "body": body})  # type: ignore[arg-type,typeddict-item]


def refuse_before_accept(app: ASGIApp) -> ASGIApp:
    """Route middleware for WebSocket routes (see the module docstring)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        accepted = False

        async def refusing(message: Message) -> None:
            nonlocal accepted
            if message["type"] == "websocket.accept":
                accepted = True
            elif message["type"] == "websocket.close" and not accepted:
                exc = scope.get("state", {}).get(_ERROR)
                if exc is not None:
                    status, text, code = refusal(exc)
                    if status >= 500:
                        log.error("websocket_refused", path=scope.get("path"), error=repr(exc))
                    await deny(scope, send, status, text, code)
                    return
            await send(message)

        await app(scope, receive, refusing)

    return middleware
