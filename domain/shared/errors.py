"""Domain error bases; the HTTP layer maps each base to one status code."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a command or query may raise on purpose."""

    code = "BAD_REQUEST"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class Invalid(DomainError):
    """The input breaks a rule (400)."""

    code = "BAD_REQUEST"


class Unauthenticated(DomainError):
    """No usable credentials were presented (401)."""

    code = "UNAUTHORIZED"


class Forbidden(DomainError):
    """The principal may not do this (403)."""

    code = "FORBIDDEN"


class NotFound(DomainError):
    """The resource does not exist or is hidden from the principal (404)."""

    code = "NOT_FOUND"


class Conflict(DomainError):
    """The request conflicts with the current state (409)."""

    code = "CONFLICT"


class Gone(DomainError):
    """The resource existed but is no longer available (410)."""

    code = "GONE"


class TooManyRequests(DomainError):
    """A rate limit or lockout applies; retry after `retry_after` seconds (429)."""

    code = "TOO_MANY_REQUESTS"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, int(retry_after))


class Unavailable(DomainError):
    """A dependency is saturated or not configured (503)."""

    code = "SERVICE_UNAVAILABLE"

    def __init__(
        self, message: str, *, retry_after: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class BadGateway(DomainError):
    """A provider this server called for the request failed or did not answer in time (502)."""

    code = "BAD_GATEWAY"


class NotSupported(DomainError):
    """The capability is not available on this server (501)."""

    code = "NOT_IMPLEMENTED"
