"""Signed links (HmacTokenSigner) and session JWTs (SessionTokens)."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from infra.crypto import tokens
from infra.crypto.tokens import HmacTokenSigner, SessionTokens, csrf_hash, load_or_create_secret

SECRET = "unit-test-secret"


def flip(text: str, index: int) -> str:
    """`text` with one character changed (staying in the url-safe base64 alphabet)."""
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


# -- HmacTokenSigner -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload", ["user:request", "", "a:b:c@example.com", "ünïcødé ✓", "x" * 500]
)
def test_a_signed_payload_verifies_for_its_purpose(payload: str) -> None:
    signer = HmacTokenSigner(SECRET)
    token = signer.sign("reset", payload, ttl_seconds=60)
    assert signer.verify("reset", token) == payload
    # Tokens are URL-safe as they stand.
    assert all(c.isalnum() or c in "-_." for c in token)


def test_a_token_is_bound_to_its_purpose() -> None:
    signer = HmacTokenSigner(SECRET)
    token = signer.sign("reset", "user:req", ttl_seconds=60)
    assert signer.verify("verify-email", token) is None
    assert signer.verify("reset ", token) is None
    assert signer.verify("", token) is None


def test_a_token_is_bound_to_the_server_secret() -> None:
    token = HmacTokenSigner(SECRET).sign("reset", "user:req", ttl_seconds=60)
    assert HmacTokenSigner("another-secret").verify("reset", token) is None


def test_a_tampered_token_is_refused() -> None:
    signer = HmacTokenSigner(SECRET)
    token = signer.sign("reset", "user-1:req", ttl_seconds=60)
    encoded, expiry, mac = token.split(".")
    forged_payload = base64.urlsafe_b64encode(b"user-2:req").rstrip(b"=").decode()
    tampered = [
        f"{forged_payload}.{expiry}.{mac}",  # someone else's account
        f"{encoded}.{int(expiry) + 3600}.{mac}",  # a longer life
        f"{encoded}.{expiry}.{flip(mac, 0)}",
        f"{flip(encoded, 0)}.{expiry}.{mac}",
        f"{encoded}.{expiry}.",
        f"{encoded}.{expiry}",
        f"{encoded}.{expiry}.{mac}.extra",
        token + "x",
        "",
        "...",
        "not-a-token",
        f"{encoded}.{expiry}.{mac[:-1]}é",  # non-ASCII must be refused, not raise
        f"{encoded}.soon.{mac}",
    ]
    for bad in tampered:
        assert signer.verify("reset", bad) is None, bad


def test_an_expired_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = HmacTokenSigner(SECRET)
    now = time.time()
    token = signer.sign("reset", "user:req", ttl_seconds=3600)
    monkeypatch.setattr(tokens.time, "time", lambda: now + 3599)
    assert signer.verify("reset", token) == "user:req"
    monkeypatch.setattr(tokens.time, "time", lambda: now + 3602)
    assert signer.verify("reset", token) is None
    assert signer.verify("reset", signer.sign("reset", "p", ttl_seconds=-5)) is None


def test_the_server_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "secret.key"
    first = load_or_create_secret(path)
    assert len(first) >= 40
    assert load_or_create_secret(path) == first
    assert path.stat().st_mode & 0o777 == 0o600


# -- SessionTokens -------------------------------------------------------------------------


def issue(sessions: SessionTokens, *, expires_in: timedelta = timedelta(hours=1)) -> str:
    return sessions.issue(
        user_id="user-1",
        session_id="session-1",
        csrf_token="csrf-token",
        expires_at=datetime.now(tz=UTC) + expires_in,
    )


def test_a_session_token_round_trips_its_claims() -> None:
    sessions = SessionTokens(SECRET)
    claims = sessions.decode(issue(sessions))
    assert claims is not None
    assert (claims.user_id, claims.session_id) == ("user-1", "session-1")
    assert claims.csrf_hash == csrf_hash("csrf-token") != "csrf-token"


def test_a_tampered_session_token_is_refused() -> None:
    sessions = SessionTokens(SECRET)
    token = issue(sessions)
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(
        {**claims, "sub": "admin"}, "a-guessed-key-that-is-long-enough-for-hs256", algorithm="HS256"
    )
    unsigned = jwt.encode({**claims, "sub": "admin"}, None, algorithm="none")
    for bad in (
        forged,
        unsigned,
        f"{header}.{payload}.{flip(signature, 3)}",
        f"{header}.{flip(payload, 5)}.{signature}",
        token[:-2],
        "",
        "garbage",
    ):
        assert sessions.decode(bad) is None, bad
    assert SessionTokens("another-secret").decode(token) is None


def test_an_expired_session_token_is_refused() -> None:
    sessions = SessionTokens(SECRET)
    assert sessions.decode(issue(sessions, expires_in=timedelta(seconds=-1))) is None


def test_a_session_token_needs_every_claim() -> None:
    sessions = SessionTokens(SECRET)
    key = sessions._key
    base = {"sub": "u", "jti": "s", "csrf": "c", "iss": "tilde", "exp": int(time.time()) + 60}
    assert sessions.decode(jwt.encode(base, key, algorithm="HS256")) is not None
    for missing in ("sub", "jti", "csrf", "exp"):
        claims = {k: v for k, v in base.items() if k != missing}
        assert sessions.decode(jwt.encode(claims, key, algorithm="HS256")) is None, missing
    assert sessions.decode(jwt.encode({**base, "iss": "other"}, key, algorithm="HS256")) is None


def test_session_and_link_keys_are_separate() -> None:
    """A link token can never pass as a session and vice versa (domain-separated keys)."""
    signer, sessions = HmacTokenSigner(SECRET), SessionTokens(SECRET)
    assert sessions.decode(signer.sign("session", "user-1", ttl_seconds=60)) is None
    assert signer.verify("session", issue(sessions)) is None
