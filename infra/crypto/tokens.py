"""Signed tokens: HMAC links (reset, verification) and the session cookie's JWT."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jwt


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_or_create_secret(path: Path) -> str:
    """The embedded mode's server secret, generated once into the data directory (0600)."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(secret)
    tmp.chmod(0o600)
    with contextlib.suppress(OSError):
        tmp.rename(path) if not path.exists() else tmp.unlink()
    return path.read_text().strip()


class HmacTokenSigner:
    """`payload.expiry.mac` tokens bound to a purpose (TokenSigner port)."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(("links:" + secret).encode()).digest()

    def _mac(self, purpose: str, body: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}\0{body}".encode(), hashlib.sha256).digest())

    def sign(self, purpose: str, payload: str, *, ttl_seconds: int) -> str:
        body = f"{_b64(payload.encode())}.{int(time.time()) + ttl_seconds}"
        return f"{body}.{self._mac(purpose, body)}"

    def verify(self, purpose: str, token: str) -> str | None:
        try:
            encoded, expiry, mac = token.split(".")
            body = f"{encoded}.{expiry}"
            # Compare bytes: compare_digest raises TypeError on non-ASCII str (a 500, not None).
            if not hmac.compare_digest(mac.encode(), self._mac(purpose, body).encode()):
                return None
            if int(expiry) < time.time():
                return None
            return _unb64(encoded).decode()
        except (ValueError, UnicodeDecodeError):
            return None


@dataclass(frozen=True)
class SessionClaims:
    """What the `tilde_session` JWT asserts."""

    user_id: str
    session_id: str
    csrf_hash: str


def csrf_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class SessionTokens:
    """HS256 JWTs for the `tilde_session` cookie; the CSRF token's hash is a claim."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(("session:" + secret).encode()).hexdigest()

    def issue(self, *, user_id: str, session_id: str, csrf_token: str, expires_at: datetime) -> str:
        claims = {
            "sub": user_id,
            "jti": session_id,
            "csrf": csrf_hash(csrf_token),
            "iat": int(time.time()),
            "exp": int(expires_at.timestamp()),
            "iss": "tilde",
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def decode(self, token: str) -> SessionClaims | None:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer="tilde",
                options={"require": ["sub", "jti", "exp", "csrf"]},
            )
        except jwt.PyJWTError:
            return None
        return SessionClaims(str(claims["sub"]), str(claims["jti"]), str(claims["csrf"]))
