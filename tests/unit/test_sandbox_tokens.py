"""The rules of sandbox tokens (`tst-`): shape, lifetime, renewal, revocation, what is stored,
and that Bearer authentication gives exactly the sandbox's principal until it is revoked."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from application.cache import LogWatch
from application.identity import IdentityApplication
from domain.identity.sandbox_credential import (
    MAX_TTL,
    SandboxCredential,
    credential_id,
    parse_sandbox_token,
    token_ttl,
)
from domain.shared.errors import Gone, Invalid
from infra.crypto.passwords import Argon2PasswordHasher
from infra.crypto.tokens import HmacTokenSigner
from infra.memory.rate_limiter import MemoryRateLimiter

T0 = datetime(2026, 5, 12, 10, 0, tzinfo=UTC)
SANDBOX = "7d4a0a52-0a8e-4f39-9a1b-2f0a3c1d5e60"


def credential() -> SandboxCredential:
    return SandboxCredential.open(
        sandbox_id=SANDBOX, organization_id="org-1", principal_type="agent", principal_id="a-1"
    )


def test_lifetime_is_clamped_to_three_to_fifteen_minutes() -> None:
    assert token_ttl(timedelta(hours=1)) == MAX_TTL == timedelta(minutes=15)
    assert token_ttl(timedelta(seconds=10)) == timedelta(minutes=3)
    assert token_ttl(timedelta(minutes=10)) == timedelta(minutes=10)


def test_a_token_authenticates_until_it_expires_and_only_with_its_secret() -> None:
    cred = credential()
    token, expires = cred.issue("s" * 43, T0, timedelta(hours=2))
    assert token.startswith(f"tst-{credential_id(SANDBOX).hex}_") and expires == T0 + MAX_TTL
    parsed = parse_sandbox_token(token)
    assert parsed is not None and cred.expiry(parsed, T0) == expires
    assert cred.expiry(parsed, expires) is None  # expired at its expiry instant
    wrong = parse_sandbox_token(token[:-1] + ("x" if token[-1] != "x" else "y"))
    assert wrong is not None and cred.expiry(wrong, T0) is None
    for bad in ("", "tst-abc", "tuk-" + token[4:], token + "\n", "tst-" + "0" * 32 + "_short"):
        assert parse_sandbox_token(bad) is None


def test_renewal_keeps_live_tokens_drops_expired_hashes_and_stores_no_secret() -> None:
    cred = credential()
    first, _ = cred.issue("a" * 43, T0, timedelta(minutes=5))
    second, _ = cred.issue("b" * 43, T0 + timedelta(minutes=4), timedelta(minutes=5))
    assert len(cred.tokens) == 2  # both live: a client may still hold the first
    cred.issue("c" * 43, T0 + timedelta(minutes=6), timedelta(minutes=5))
    assert len(cred.tokens) == 2  # the first expired and its hash is gone
    events = json.dumps([vars(e) for e in cred.collect_events()], default=str)
    for secret in ("a" * 43, "b" * 43, "c" * 43, first, second):
        assert secret not in events


def test_revocation_ends_every_token_and_refuses_new_ones() -> None:
    cred = credential()
    token, _ = cred.issue("a" * 43, T0, MAX_TTL)
    assert cred.revoke("sandbox_ended") and not cred.revoke("again")  # idempotent
    parsed = parse_sandbox_token(token)
    assert parsed is not None and cred.expiry(parsed, T0) is None
    with pytest.raises(Gone):
        cred.issue("b" * 43, T0, MAX_TTL)


def test_only_users_roles_and_agents_can_be_acted_as() -> None:
    with pytest.raises(Invalid):
        SandboxCredential.open(
            sandbox_id=SANDBOX, organization_id="o", principal_type="system", principal_id="x"
        )


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def identity() -> Any:
    clock = Clock()
    watch = LogWatch()
    app = IdentityApplication(
        log_watch=watch,
        # As the composition root does: local appends move the watched log's generation.
        observers=[lambda name, recs: watch.appended(name, {r.notification.topic for r in recs})],
        hasher=Argon2PasswordHasher(time_cost=1, memory_cost=1024),
        limiter=MemoryRateLimiter(),
        signer=HmacTokenSigner("k" * 32),
        clock=clock,
    )
    app.test_clock = clock
    return app


def test_bearer_gives_the_sandbox_principal_until_expiry_or_revocation(identity: Any) -> None:
    user = identity.create_admin(
        username="ada", email="ada@example.com", full_name="Ada", password="correct-horse-9"
    ).value
    issued = identity.issue_sandbox_token(
        sandbox_id=SANDBOX,
        organization_id="org-1",
        principal_type="user",
        principal_id=str(user.id),
        ttl=timedelta(minutes=10),
    ).value
    principal = identity.authenticate_bearer(issued.access_token)
    assert (principal.type, principal.id, principal.name) == ("user", str(user.id), "ada")
    assert (principal.via, principal.sandbox_id, principal.key_id) == ("sandbox", SANDBOX, "")
    assert identity.authenticate_bearer(issued.access_token + "x") is None
    # Expiry applies even to the remembered answer.
    identity.test_clock.now = T0 + timedelta(minutes=10)
    assert identity.authenticate_bearer(issued.access_token) is None
    assert identity.remembered_bearer(issued.access_token) is None

    identity.test_clock.now = T0
    # Issuing revokes nothing: cached API keys and snapshots stay current; revoking moves it.
    generation = identity.log_watch.current(("identity",))
    renewed = identity.issue_sandbox_token(
        sandbox_id=SANDBOX,
        organization_id="org-1",
        principal_type="user",
        principal_id=str(user.id),
        ttl=timedelta(minutes=10),
    ).value
    assert identity.authenticate_bearer(renewed.access_token) is not None
    assert identity.log_watch.current(("identity",)) == generation
    identity.revoke_sandbox_tokens(SANDBOX)
    assert identity.log_watch.current(("identity",)) != generation
    assert identity.authenticate_bearer(renewed.access_token) is None
    with pytest.raises(Gone):
        identity.issue_sandbox_token(
            sandbox_id=SANDBOX,
            organization_id="org-1",
            principal_type="user",
            principal_id=str(user.id),
            ttl=timedelta(minutes=10),
        )
