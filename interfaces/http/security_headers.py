"""Security headers on every response, chosen once per path family and added at the ASGI edge.

API and console responses may not be framed and send no Referer to other origins. `/_blob`
responses carry user-supplied bytes: `nosniff` plus a CSP sandbox keep a browser from running
an uploaded page with the API's origin (where the console's cookies live). HSTS is sent only
when the request arrived over HTTPS (as the client saw it).
"""

from __future__ import annotations

from litestar.types import Scope

from infra.settings import Settings

Header = tuple[bytes, bytes]

NOSNIFF = (b"x-content-type-options", b"nosniff")
# `same-origin`, not `no-referrer`: browsers then still send `Origin` on the console's own
# form posts, while URLs (signed links, session ids) never leak to other sites.
REFERRER = (b"referrer-policy", b"same-origin")
# The console has one inline <style>, no script, and forms that post to itself.
PAGE_CSP = (
    b"default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
    b"frame-ancestors 'none'; base-uri 'none'"
)
BLOB_CSP = b"default-src 'none'; sandbox"
HSTS = (b"strict-transport-security", b"max-age=31536000")

PAGE_HEADERS: tuple[Header, ...] = (
    NOSNIFF,
    REFERRER,
    (b"content-security-policy", PAGE_CSP),
    (b"x-frame-options", b"DENY"),
)
BLOB_HEADERS: tuple[Header, ...] = (NOSNIFF, REFERRER, (b"content-security-policy", BLOB_CSP))


class SecurityHeaders:
    """The headers each response start carries for its path family (`observe` adds them)."""

    def __init__(self, settings: Settings) -> None:
        self._always_https = settings.base_url.startswith("https://")
        self._trust_proxy = settings.trust_forwarded_for

    def _over_https(self, scope: Scope) -> bool:
        if self._always_https or scope.get("scheme") == "https":
            return True
        if self._trust_proxy:
            for name, value in scope.get("headers", ()):
                if name == b"x-forwarded-proto":
                    return value.split(b",")[0].strip().lower() == b"https"
        return False

    def headers_for(self, scope: Scope) -> tuple[Header, ...]:
        chosen = BLOB_HEADERS if scope.get("path", "").startswith("/_blob/") else PAGE_HEADERS
        return (*chosen, HSTS) if self._over_https(scope) else chosen
