"""Identity over HTTP, on SQLite and PostgreSQL: signup, approval, login, keys, errors."""

from __future__ import annotations

import base64
import contextlib
from dataclasses import replace
from typing import Any

from litestar.testing import TestClient

from domain.identity.errors import InvalidCredentials
from domain.shared.values import Actor
from infra.bootstrap import Container
from tests.builders import PASSWORD, name, signup_body
from tests.conftest import bearer, create_key, create_user


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"message", "code", "request_id"}, body
    assert body["message"] and body["request_id"]
    assert response.headers["x-request-id"] == body["request_id"]
    if code:
        assert body["code"] == code
    return body


def login(client: TestClient[Any], login_name: str, password: str = PASSWORD) -> Any:
    return client.post("/api/v1/auth/login", json={"login": login_name, "password": password})


def test_signup_is_pending_until_the_operator_approves(
    client: TestClient[Any], container: Container
) -> None:
    body = signup_body()
    response = client.post("/api/v1/auth/signup", json=body)
    assert response.status_code == 201
    user = response.json()
    assert user["status"] == "pending" and user["username"] == body["username"]
    assert set(user) == {"id", "username", "email", "full_name", "source", "status", "created_at"}
    assert_error(login(client, body["username"]), 403, "PENDING_APPROVAL")
    container.identity.approve(body["username"], Actor.operator())
    response = login(client, body["email"].upper())
    assert response.status_code == 200
    assert response.json()["user"]["status"] == "active"
    cookies = {c.name: c for c in client.cookies.jar}
    assert {"tilde_session", "tilde_csrf"} <= set(cookies)
    assert "httponly" in {k.lower() for k in cookies["tilde_session"]._rest}


def test_signup_conflicts_and_validation(client: TestClient[Any]) -> None:
    body = signup_body()
    assert client.post("/api/v1/auth/signup", json=body).status_code == 201
    assert_error(client.post("/api/v1/auth/signup", json=body), 409, "USERNAME_TAKEN")
    other = signup_body(email=body["email"].upper())
    assert_error(client.post("/api/v1/auth/signup", json=other), 409, "EMAIL_TAKEN")
    assert_error(client.post("/api/v1/auth/signup", json=signup_body(password="short")), 400)
    assert_error(client.post("/api/v1/auth/signup", json=signup_body(username="Bad Name")), 400)
    assert_error(client.post("/api/v1/auth/signup", json=signup_body(email="not-an-email")), 400)
    assert_error(client.post("/api/v1/auth/signup", json=signup_body(extra=1)), 400)
    assert_error(client.post("/api/v1/auth/signup", json={"username": name()}), 400)
    malformed = client.post(
        "/api/v1/auth/signup", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(malformed, 400)


def test_errors_have_the_spec_body_on_unknown_routes_and_methods(client: TestClient[Any]) -> None:
    assert_error(client.get("/api/v1/no/such/route"), 404, "NOT_FOUND")
    assert_error(client.get("/nowhere"), 404)
    assert_error(client.put("/api/v1/auth/signup", json={}), 405)
    assert_error(client.get("/api/v1/auth/me"), 401)


def test_eleven_wrong_passwords_lock_the_account(
    client: TestClient[Any], container: Container
) -> None:
    user = create_user(container)
    for _attempt in range(10):
        assert_error(login(client, user["username"], "wrong-password"), 401, "INVALID_CREDENTIALS")
    locked = login(client, user["username"], "wrong-password")
    assert_error(locked, 429, "ACCOUNT_LOCKED")
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60
    # Even the right password is refused while locked.
    assert_error(login(client, user["username"]), 429, "ACCOUNT_LOCKED")


def test_successful_login_resets_the_failure_counters(container: Container) -> None:
    user = create_user(container)
    identity = container.identity
    # A small account-wide threshold and a large address budget make both counters visible.
    identity.policy = replace(
        identity.policy, lockout_account_threshold=10, login_attempts_per_ip=100
    )
    for _round in range(3):
        for _attempt in range(9):  # one under both thresholds (the address's, the account's)
            with contextlib.suppress(InvalidCredentials):
                identity.login(user["username"], "nope-nope", ip="10.0.0.1")
        # Without both resets the first failure of round two would lock the account.
        assert identity.login(user["username"], PASSWORD, ip="10.0.0.1").value


def test_the_ip_limit_applies_across_accounts(
    client: TestClient[Any], container: Container
) -> None:
    for _ in range(10):
        assert_error(login(client, name(), "whatever-pass"), 401)
    limited = login(client, name(), "whatever-pass")
    assert_error(limited, 429, "RATE_LIMITED")
    assert int(limited.headers["retry-after"]) >= 1


def test_api_keys_are_shown_once_listed_with_a_hint_and_revocable(
    client: TestClient[Any], container: Container
) -> None:
    user = create_user(container)
    token = create_key(container, user)
    created = client.post(
        "/api/v1/auth/keys", json={"name": "ci", "description": "pipeline"}, headers=bearer(token)
    )
    assert created.status_code == 201
    key = created.json()
    assert key["token"].startswith("tuk-") and set(key) == {"token", "id", "name", "description"}
    listed = client.get("/api/v1/auth/keys", headers=bearer(token)).json()["results"]
    mine = next(k for k in listed if k["id"] == key["id"])
    assert mine["token_hint"] == key["token"][-4:]
    assert key["token"] not in str(listed)
    assert mine["revoked_at"] is None and mine["last_used_at"] is None
    assert client.get("/api/v1/auth/me", headers=bearer(key["token"])).status_code == 200
    assert client.delete(f"/api/v1/auth/keys/{key['id']}", headers=bearer(token)).status_code == 204
    assert_error(client.get("/api/v1/auth/me", headers=bearer(key["token"])), 401)
    listed = client.get("/api/v1/auth/keys", headers=bearer(token)).json()["results"]
    revoked = next(k for k in listed if k["id"] == key["id"])
    assert revoked["revoked_at"] is not None and revoked["last_used_at"] is not None
    assert_error(client.delete("/api/v1/auth/keys/not-a-key", headers=bearer(token)), 404)


def test_a_key_cannot_be_revoked_by_someone_else(
    client: TestClient[Any], container: Container
) -> None:
    alice, bob = create_user(container), create_user(container)
    alice_token, bob_token = create_key(container, alice), create_key(container, bob)
    alice_key = client.get("/api/v1/auth/keys", headers=bearer(alice_token)).json()["results"][0]
    assert_error(
        client.delete(f"/api/v1/auth/keys/{alice_key['id']}", headers=bearer(bob_token)), 404
    )


def test_basic_auth_with_username_or_email(client: TestClient[Any], container: Container) -> None:
    user = create_user(container)
    for login_name in (user["username"], user["email"]):
        header = base64.b64encode(f"{login_name}:{PASSWORD}".encode()).decode()
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Basic {header}"})
        assert me.status_code == 200 and me.json()["user"]["id"] == user["id"]
    bad = base64.b64encode(f"{user['username']}:wrong".encode()).decode()
    assert_error(
        client.get("/api/v1/auth/me", headers={"Authorization": f"Basic {bad}"}),
        401,
        "INVALID_CREDENTIALS",
    )


def test_bad_bearer_falls_through_to_the_session_cookie(
    client: TestClient[Any], container: Container
) -> None:
    user = create_user(container)
    assert login(client, user["username"]).status_code == 200
    me = client.get("/api/v1/auth/me", headers=bearer("tuk-" + "0" * 32 + "_" + "x" * 43))
    assert me.status_code == 200 and me.json()["user"]["username"] == user["username"]


def test_cookie_sessions_need_the_csrf_header_for_unsafe_requests(
    client: TestClient[Any], container: Container
) -> None:
    user = create_user(container)
    assert login(client, user["username"]).status_code == 200
    csrf = client.cookies.get("tilde_csrf")
    assert client.get("/api/v1/auth/me").status_code == 200
    assert_error(client.post("/api/v1/auth/keys", json={"name": "x"}), 403, "CSRF_FAILED")
    assert_error(
        client.post("/api/v1/auth/keys", json={"name": "x"}, headers={"X-CSRF-Token": "forged"}),
        403,
    )
    ok = client.post("/api/v1/auth/keys", json={"name": "x"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    # Bearer requests never need the header.
    assert (
        client.post(
            "/api/v1/auth/keys", json={"name": "y"}, headers=bearer(ok.json()["token"])
        ).status_code
        == 201
    )


def test_logout_ends_the_session(client: TestClient[Any], container: Container) -> None:
    user = create_user(container)
    assert login(client, user["username"]).status_code == 200
    session = client.cookies.get("tilde_session")
    csrf = client.cookies.get("tilde_csrf")
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    client.cookies.clear()
    client.cookies.set("tilde_session", session)
    assert_error(client.get("/api/v1/auth/me"), 401)


def test_profile_password_and_emails(client: TestClient[Any], container: Container) -> None:
    user = create_user(container)
    token = create_key(container, user)
    me = client.get("/api/v1/auth/me", headers=bearer(token)).json()
    assert me["has_password"] is True and me["organizations"] == []
    updated = client.patch(
        "/api/v1/auth/me", json={"full_name": "New Name", "bio": "hi"}, headers=bearer(token)
    )
    assert updated.status_code == 200 and updated.json()["full_name"] == "New Name"
    assert_error(client.patch("/api/v1/auth/me", json={"nope": 1}, headers=bearer(token)), 400)
    assert_error(
        client.put(
            "/api/v1/auth/me/password",
            json={"current_password": "wrong-one", "new_password": "another-pass"},
            headers=bearer(token),
        ),
        400,
    )
    changed = client.put(
        "/api/v1/auth/me/password",
        json={"current_password": PASSWORD, "new_password": "another-pass-1"},
        headers=bearer(token),
    )
    assert changed.status_code == 204
    assert login(client, user["username"]).status_code == 401
    assert login(client, user["username"], "another-pass-1").status_code == 200
    added = client.post(
        "/api/v1/auth/emails", json={"email": "Second@Example.com"}, headers=bearer(token)
    )
    assert added.status_code == 201
    assert added.json()["email"] == "second@example.com" and added.json()["verified"] is False
    assert_error(
        client.post("/api/v1/auth/emails", json={"email": user["email"]}, headers=bearer(token)),
        409,
    )
    emails = client.get("/api/v1/auth/emails", headers=bearer(token)).json()["results"]
    assert [e["is_primary"] for e in emails] == [True, False]
    assert {"id", "user_id", "email", "is_primary", "verified", "created_at"} == set(emails[0])
    # The secondary email signs in too.
    assert login(client, "second@example.com", "another-pass-1").status_code == 200


def test_check_username(client: TestClient[Any], container: Container) -> None:
    user = create_user(container)
    taken = client.get("/api/v1/auth/check-username", params={"username": user["username"]})
    assert taken.json() == {"available": False}
    free = client.get("/api/v1/auth/check-username", params={"username": name()})
    assert free.json() == {"available": True}
    assert_error(client.get("/api/v1/auth/check-username"), 400)
