"""The one table from errors to HTTP status and `code`, and the spec's error body."""

from __future__ import annotations

from typing import Any, NamedTuple

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
    BadGateway,
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
    (BadGateway, 502),
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
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
}
# A status with no code of its own above (none is known to be answered).
FALLBACK_CODE = "ERROR"


class ErrorCode(NamedTuple):
    """One `code` of the error body: its status, what it means, what the caller should do."""

    status: int
    meaning: str
    remedy: str


# Every `code` the API answers. docs/errors.md is generated from it (docs/errors_table.py), and
# tests/conformance/test_error_catalogue.py fails when a code raised anywhere is missing here.
CODES: dict[str, ErrorCode] = {
    "BAD_REQUEST": ErrorCode(
        400,
        "The request breaks a rule: a missing or malformed field, a bad query parameter, "
        "a body that is not JSON, a repeated parameter that takes one value, a NUL character.",
        "Fix the request; the message names the field and the rule.",
    ),
    "INVALID_PART": ErrorCode(
        400,
        "A multipart completion lists a part that was never uploaded, with the wrong ETag, "
        "or out of order.",
        "Send the parts in ascending part number with the ETags their uploads returned.",
    ),
    "ENDPOINT_REFUSED": ErrorCode(
        400,
        "A connector's endpoint (or a GCS key's token URI) is, or resolves to, an address the "
        "server does not connect to for a connector: loopback, private, link-local (cloud "
        "metadata), CGNAT, IPv6 ULA, or the server's own.",
        "Use a public endpoint, or ask the operator to allow the host in "
        "`TILDE_CONNECTOR_ALLOWED_ENDPOINTS`.",
    ),
    "UNAUTHORIZED": ErrorCode(
        401,
        "No usable credentials: none sent, or an API key that is unknown, revoked or expired.",
        "Send `Authorization: Bearer <api key>` (or Basic credentials); mint a new key if "
        "this one was revoked.",
    ),
    "INVALID_CREDENTIALS": ErrorCode(
        401,
        "The login or password is wrong.",
        "Check them; repeated failures lead to `RATE_LIMITED` or `ACCOUNT_LOCKED`.",
    ),
    "FORBIDDEN": ErrorCode(
        403,
        "The principal may not do this here: no policy allows the action named in the message.",
        "Ask an organization admin for a policy that allows the action.",
    ),
    "PENDING_APPROVAL": ErrorCode(
        403,
        "The account exists but an operator has not approved it yet.",
        "Wait for the operator (`tilde-server users approve`).",
    ),
    "CSRF_FAILED": ErrorCode(
        403,
        "A cookie-authenticated request that changes state lacks the `X-CSRF-Token` header "
        "matching the `tilde_csrf` cookie.",
        "Echo the `tilde_csrf` cookie in `X-CSRF-Token`, or use an API key.",
    ),
    "INVALID_SIGNATURE": ErrorCode(
        403,
        "A signed blob URL was altered, is malformed, or is used for another operation.",
        "Ask the API for a fresh upload or download URL and use it as given.",
    ),
    "URL_EXPIRED": ErrorCode(
        403,
        "A signed blob URL has expired.",
        "Ask the API for a fresh URL.",
    ),
    "NOT_FOUND": ErrorCode(
        404,
        "No such route or resource, or it is hidden from this principal.",
        "Check the names and ids in the path; an outsider sees 404, not 403.",
    ),
    "METHOD_NOT_ALLOWED": ErrorCode(
        405,
        "The path exists but not with this method.",
        "Use a method from the `Allow` header.",
    ),
    "NOT_ACCEPTABLE": ErrorCode(
        406,
        "The server cannot answer in a media type the `Accept` header allows.",
        "Accept `application/json`.",
    ),
    "CONFLICT": ErrorCode(
        409,
        "The request conflicts with the current state: a name in use, a commit that lost to "
        "another, a session no longer open.",
        "Re-read the resource and retry with the current state.",
    ),
    "EMAIL_TAKEN": ErrorCode(
        409,
        "The email belongs to an account (possibly yours).",
        "Use another email, or sign in to the existing account.",
    ),
    "USERNAME_TAKEN": ErrorCode(
        409,
        "The username belongs to another account.",
        "Choose another username (`GET /auth/check-username`).",
    ),
    "GONE": ErrorCode(
        410,
        "The resource existed but is no longer available: a commit past the repository's "
        "retention, an expired invitation, reset link or device code, the credentials of a "
        "sandbox that ended.",
        "Do not retry; read a newer commit or ask for a new link or code.",
    ),
    "LENGTH_REQUIRED": ErrorCode(
        411,
        "A blob upload came without a usable `Content-Length`.",
        "Send the body with its `Content-Length`.",
    ),
    "PAYLOAD_TOO_LARGE": ErrorCode(
        413,
        "The body is larger than this route accepts.",
        "Send less; large objects go through multipart uploads.",
    ),
    "UNSUPPORTED_MEDIA_TYPE": ErrorCode(
        415,
        "The body's `Content-Type` is not one this route reads.",
        "Send `application/json`.",
    ),
    "RANGE_NOT_SATISFIABLE": ErrorCode(
        416,
        "The `Range` of a blob download lies outside the blob.",
        "Request a range within the size in `Content-Range`.",
    ),
    "TOO_MANY_REQUESTS": ErrorCode(
        429,
        "A rate limit applies.",
        "Wait the seconds in `Retry-After`, then retry.",
    ),
    "RATE_LIMITED": ErrorCode(
        429,
        "Too many sign-in attempts from this client address.",
        "Wait the seconds in `Retry-After`; check the credentials first.",
    ),
    "ACCOUNT_LOCKED": ErrorCode(
        429,
        "Too many failed sign-ins for this account; it is locked for a while.",
        "Wait the seconds in `Retry-After`, or reset the password.",
    ),
    "INTERNAL_ERROR": ErrorCode(
        500,
        "A bug in the server.",
        "Retry later; report it with the `request_id`.",
    ),
    "NOT_IMPLEMENTED": ErrorCode(
        501,
        "The capability is not available on this server (e.g. multipart uploads on a store "
        "without them).",
        "Use the fallback the SDK uses (a single upload), or another server.",
    ),
    "BAD_GATEWAY": ErrorCode(
        502,
        "A provider the server called for this request failed or did not answer in time.",
        "Retry later; the message names the provider's error.",
    ),
    "SOURCE_FAILED": ErrorCode(
        502,
        "A connector's storage could not be listed: bad credentials, a missing bucket, an "
        "endpoint that refused or did not answer in time (the message quotes the provider).",
        "Fix the connector's credentials, bucket or endpoint (test it with `connectors:test`).",
    ),
    "NOT_CONFIGURED": ErrorCode(
        503,
        "The feature needs a backend this server has not configured (policy generation).",
        "Do without it (write the policy text yourself) or ask the operator.",
    ),
    "SANDBOXES_UNAVAILABLE": ErrorCode(
        503,
        "No container engine is reachable, so a sandbox cannot be created (createSandbox).",
        "Retry later, or ask the operator to start the Docker engine the workers use.",
    ),
    "SERVICE_UNAVAILABLE": ErrorCode(
        503,
        "The database is unavailable or saturated, or authorization data is catching up.",
        "Retry after `Retry-After` seconds (1 when sent).",
    ),
    FALLBACK_CODE: ErrorCode(
        0,
        "A status with no code of its own (none is known to be answered).",
        "Switch on the HTTP status; report it with the `request_id`.",
    ),
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
        "code": code or HTTP_CODES.get(status, FALLBACK_CODE),
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


def status_for(kind: type[DomainError]) -> int:
    """The HTTP status a domain error class answers with."""
    return next((status for base, status in STATUS if issubclass(kind, base)), 400)


def domain_error(request: Request, exc: DomainError) -> Response[dict[str, str]]:
    status = status_for(type(exc))
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
