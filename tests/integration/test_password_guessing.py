"""Password guessing (issue #8, finding 4), on SQLite and PostgreSQL: every password check
spends the per-address budget before hashing, unknown names answer and lock like known ones,
and one source locks only itself out of an account."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from tests.apps import lent_app
from tests.builders import PASSWORD, name
from tests.conftest import FAST_HASHER, create_key, create_user
from tests.orgs import link_token, read_mail

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"


class CountingHasher:
    """FAST_HASHER, counting the verifications (argon2 work an attacker makes us do)."""

    def __init__(self) -> None:
        self.verified = 0

    def hash(self, password: str) -> str:
        return FAST_HASHER.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified += 1
        return FAST_HASHER.verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return FAST_HASHER.needs_rehash(password_hash)


@pytest.fixture
def guarded(backend: Settings) -> Iterator[tuple[CountingHasher, Container, TestClient[Any]]]:
    """A server behind a trusted proxy, so each test request picks its client address."""
    hasher = CountingHasher()
    settings = backend.model_copy(update={"trust_forwarded_for": True})
    container = bootstrap(settings, hasher=hasher)
    with lent_app(container) as app, TestClient(app, base_url="http://t.local") as c:
        yield hasher, container, c
    container.close()


def from_ip(ip: str, **headers: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip, **headers}


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


def login(client: TestClient[Any], ip: str, who: str, password: str = "wrong-password") -> Any:
    return client.post(LOGIN, json={"login": who, "password": password}, headers=from_ip(ip))


def outcome(response: Any) -> tuple[int, str, str, bool]:
    body = response.json()
    return response.status_code, body["code"], body["message"], "retry-after" in response.headers


def test_basic_auth_spends_the_address_budget_before_hashing(
    guarded: tuple[CountingHasher, Container, TestClient[Any]],
) -> None:
    """The reported spraying: Basic auth used to skip the per-address limit entirely."""
    hasher, container, client = guarded
    victims = [create_user(container)["username"] for _ in range(12)]
    hasher.verified = 0
    for victim in victims[:10]:
        response = client.get(ME, headers=from_ip("198.51.100.7", Authorization=basic(victim, "x")))
        assert response.status_code == 401, response.text
    assert hasher.verified == 10
    for victim in victims[10:]:
        refused = client.get(ME, headers=from_ip("198.51.100.7", Authorization=basic(victim, "y")))
        assert refused.status_code == 429 and refused.json()["code"] == "RATE_LIMITED"
        assert int(refused.headers["retry-after"]) >= 1
    # The refused guesses cost no argon2 work; the login form shares the same budget.
    assert hasher.verified == 10
    assert login(client, "198.51.100.7", victims[0]).status_code == 429
    # Another address is not affected.
    ok = client.get(ME, headers=from_ip("198.51.100.8", Authorization=basic(victims[0], PASSWORD)))
    assert ok.status_code == 200, ok.text


def test_a_verified_basic_credential_stays_fast_and_unlimited(
    guarded: tuple[CountingHasher, Container, TestClient[Any]],
) -> None:
    hasher, container, client = guarded
    user = create_user(container)
    hasher.verified = 0
    auth = from_ip("198.51.100.9", Authorization=basic(user["username"], PASSWORD))
    for _ in range(25):
        assert client.get(ME, headers=auth).status_code == 200
    assert hasher.verified == 1  # remembered after the first check: no argon2, no budget spent


def test_many_users_behind_one_address_sign_in_with_basic_without_throttling(
    guarded: tuple[CountingHasher, Container, TestClient[Any]],
) -> None:
    """Only failed Basic checks spend the address budget: an office behind one NAT whose
    clients each present good credentials is never answered 429."""
    hasher, container, client = guarded
    users = [create_user(container)["username"] for _ in range(15)]
    hasher.verified = 0
    for username in users:
        auth = from_ip("198.51.100.10", Authorization=basic(username, PASSWORD))
        assert client.get(ME, headers=auth).status_code == 200
    assert hasher.verified == 15
    # Failures still count: ten wrong guesses spend the budget for everyone at that address.
    for username in users[:10]:
        wrong = from_ip("198.51.100.10", Authorization=basic(username, "wrong"))
        assert client.get(ME, headers=wrong).status_code == 401
    refused = client.get(
        ME, headers=from_ip("198.51.100.10", Authorization=basic(users[11], "wrong"))
    )
    assert refused.status_code == 429


def test_unknown_names_answer_and_lock_exactly_like_known_ones(
    guarded: tuple[CountingHasher, Container, TestClient[Any]],
) -> None:
    _, container, client = guarded
    known = create_user(container)["username"]
    unknown = name()
    seen = {}
    for who, ip in ((known, "203.0.113.1"), (unknown, "203.0.113.2")):
        steps = [outcome(login(client, ip, who)) for _ in range(11)]
        steps.append(outcome(login(client, ip, who, PASSWORD)))
        seen[who] = steps
    assert (
        seen[known][:10] == [(401, "INVALID_CREDENTIALS", "invalid login or password", False)] * 10
    )
    # The 11th try and even the right password are refused: the name is locked for that source.
    assert [s[:2] for s in seen[known][10:]] == [(429, "ACCOUNT_LOCKED")] * 2
    assert [s[0:2] + s[3:] for s in seen[known]] == [s[0:2] + s[3:] for s in seen[unknown]]
    assert [s[2].split(" for ")[0] for s in seen[known]] == [
        s[2].split(" for ")[0] for s in seen[unknown]
    ]


def test_one_source_locks_only_itself_out_and_the_account_lock_needs_many(
    guarded: tuple[CountingHasher, Container, TestClient[Any]],
) -> None:
    _, container, client = guarded
    victim = create_user(container)["username"]
    for _ in range(10):
        assert login(client, "192.0.2.1", victim).status_code == 401
    locked = login(client, "192.0.2.1", victim, PASSWORD)
    assert locked.status_code == 429 and locked.json()["code"] == "ACCOUNT_LOCKED"
    assert 14 * 60 < int(locked.headers["retry-after"]) <= 15 * 60
    # The victim, elsewhere, signs in (which resets the account-wide count).
    assert login(client, "192.0.2.200", victim, PASSWORD).status_code == 200
    # Failures from many sources (100 by default: ten addresses at their own limit) lock
    # the account for everyone, whichever address asks.
    for source in range(10):
        for _ in range(10):
            assert login(client, f"192.0.2.{10 + source}", victim).status_code == 401
    everyone = login(client, "192.0.2.201", victim, PASSWORD)
    assert everyone.status_code == 429 and everyone.json()["code"] == "ACCOUNT_LOCKED"
    # Resetting the password through the emailed link lifts the account-wide lock; the
    # addresses that guessed stay locked out.
    email = container.identity.user_by_login(victim).email
    forgot = client.post("/api/v1/auth/forgot-password", json={"email": email})
    assert forgot.status_code < 300, forgot.text
    token = link_token(read_mail(container, email, "password-reset"))
    reset = {"token": token, "password": "brand-new-pass-9"}
    assert client.post("/api/v1/auth/reset-password", json=reset).status_code == 204
    assert login(client, "192.0.2.202", victim, "brand-new-pass-9").status_code == 200
    assert login(client, "192.0.2.10", victim, "brand-new-pass-9").status_code == 429


def test_a_signed_in_session_cannot_guess_the_current_password(
    guarded: tuple[CountingHasher, Container, TestClient[Any]],
) -> None:
    hasher, container, client = guarded
    user = create_user(container)
    auth = f"Bearer {create_key(container, user)}"  # a stolen key or session, say
    change = "/api/v1/auth/me/password"
    for attempt in range(10):
        wrong = client.put(
            change,
            json={"current_password": f"guess-{attempt}", "new_password": "a-new-password-1"},
            headers=from_ip("192.0.2.50", Authorization=auth),
        )
        assert wrong.status_code == 400, wrong.text
    hasher.verified = 0
    refused = client.put(
        change,
        json={"current_password": PASSWORD, "new_password": "a-new-password-1"},
        headers=from_ip("192.0.2.50", Authorization=auth),
    )
    assert refused.status_code == 429 and refused.json()["code"] == "ACCOUNT_LOCKED"
    assert hasher.verified == 0
