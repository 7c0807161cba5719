"""The one table from errors to HTTP status and `code`, and the spec's error body."""

from __future__ import annotations

from typing import Any

import structlog
from eventsourcing.persistence import InterfaceError, OperationalError
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    ValidationException,
)

from domain.shared.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    NotSupported,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)
from interfaces.http.context import request_id

log = structlog.get_logger("tilde.http")

STATUS: list[tuple[type[DomainError], int]] = [
    (Invalid, 400),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (Gone, 410),
    (TooManyRequests, 429),
    (NotSupported, 501),
    (Unavailable, 503),
]
HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    410: "GONE",
    411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    416: "RANGE_NOT_SATISFIABLE",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_ERROR",
    501: "NOT_IMPLEMENTED",
    503: "SERVICE_UNAVAILABLE",
}


def error_response(
    request: Request,
    status: int,
    message: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    """`{"message","code","request_id"}` — exactly the spec's Error schema."""
    body = {
        "message": message,
        "code": code or HTTP_CODES.get(status, "ERROR"),
        "request_id": request_id(request.scope),
    }
    if request.method == "HEAD":
        return Response(
            content=b"",
            status_code=status,
            headers=headers,  # type: ignore[arg-type]
            media_type="application/json",
        )
    return Response(content=body, status_code=status, headers=headers)


def domain_error(request: Request, exc: DomainError) -> Response[dict[str, str]]:
    status = next((s for kind, s in STATUS if isinstance(exc, kind)), 400)
    headers = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    return error_response(request, status, exc.message, exc.code, headers)


def http_error(request: Request, exc: HTTPException) -> Response[dict[str, str]]:
    status = exc.status_code
    if status >= 500:
        log.error(
            "http_error",
            path=request.url.path,
            status=status,
            detail=exc.detail,
            extra=str(exc.extra)[:500],
        )
    if isinstance(exc, NotFoundException):
        message = f"no route for {request.method} {request.url.path}"
    elif isinstance(exc, MethodNotAllowedException):
        message = f"method {request.method} is not allowed on {request.url.path}"
    elif isinstance(exc, ValidationException):
        message = validation_message(exc)
        status = 400
    else:
        message = exc.detail or HTTP_CODES.get(status, "error").lower().replace("_", " ")
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() == "allow"}
    return error_response(request, status, message, None, headers)


def validation_message(exc: ValidationException) -> str:
    """A readable summary of which fields were wrong and why."""
    details = exc.extra if isinstance(exc.extra, list) else []
    parts = []
    for item in details[:5]:
        if isinstance(item, dict):
            key = item.get("key") or item.get("source") or ""
            text = item.get("message", "")
            parts.append(f"{key}: {text}" if key else str(text))
    detail = exc.detail or "invalid request"
    if "JSON is malformed" in detail or "Malformed" in detail:
        return "request body is not valid JSON"
    return "; ".join(parts) if parts else detail


def storage_error(request: Request, exc: Exception) -> Response[dict[str, str]]:
    log.warning("storage_unavailable", error=type(exc).__name__)
    return error_response(
        request,
        503,
        "the database is unavailable; retry shortly",
        "SERVICE_UNAVAILABLE",
        {"Retry-After": "1"},
    )


def unexpected_error(request: Request, exc: Exception) -> Response[dict[str, str]]:
    log.exception("unhandled_error", path=request.url.path, method=request.method)
    return error_response(request, 500, "internal server error", "INTERNAL_ERROR")


EXCEPTION_HANDLERS = {
    DomainError: domain_error,
    HTTPException: http_error,
    OperationalError: storage_error,
    InterfaceError: storage_error,
    Exception: unexpected_error,
}
