"""End-to-end identity flows over HTTP: password reset, device login, email verification,
account deletion and the operator's routes."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
import time
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote

from litestar.testing import TestClient

from domain.shared.values import Actor
from infra.bootstrap import Container
from tests.builders import PASSWORD, name, signup_body
from tests.conftest import bearer, create_key, create_user
from tests.integration.test_identity_http import assert_error, login

TOKEN_IN_LINK = re.compile(r"[?&]token=([^\s&]+)")


def read_mail(container: Container, to: str, kind: str, *, timeout: float = 10.0) -> EmailMessage:
    """The `.eml` of kind `kind` sent to `to`, once the outbox has delivered it."""
    mailbox = container.settings.data_dir / "mailbox"
    deadline = time.monotonic() + timeout
    while True:
        container.projections.catch_up()
        container.outbox.send_due()
        for path in sorted(mailbox.glob("*.eml")) if mailbox.exists() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if message["To"] == to and message["X-Tilde-Kind"] == kind:
                return message
        assert time.monotonic() < deadline, f"no {kind} email to {to}"
        time.sleep(0.05)


def link_token(message: EmailMessage) -> str:
    body = message.get_content()
    match = TOKEN_IN_LINK.search(body)
    assert match, body
    return unquote(match.group(1))


# -- password reset ------------------------------------------------------------------------


def test_a_forgotten_password_is_reset_through_the_emailed_link(
    client: TestClient[Any], container: Container
) -> None:
    user = create_user(container)
    asked = client.post("/api/v1/auth/forgot-password", json={"email": user["email"].upper()})
    assert asked.status_code == 204
    message = read_mail(container, user["email"], "password-reset")
    assert "/console/reset-password?token=" in message.get_content()
    token = link_token(message)
    reset = client.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": "brand-new-pass-9"}
    )
    assert reset.status_code == 204, reset.text
    assert_error(login(client, user["username"]), 401, "INVALID_CREDENTIALS")
    assert login(client, user["username"], "brand-new-pass-9").status_code == 200
    # The link works once.
    again = client.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": "another-pass-10"}
    )
    assert_error(again, 410, "GONE")
    assert login(client, user["username"], "brand-new-pass-9").status_code == 200


def test_forgot_password_does_not_reveal_whether_an_account_exists(
    client: TestClient[Any], container: Container
) -> None:
    unknown = client.post("/api/v1/auth/forgot-password", json={"email": "nobody@example.com"})
    assert unknown.status_code == 204
    assert_error(client.post("/api/v1/auth/forgot-password", json={"email": "not-an-email"}), 400)


def test_forged_or_cross_purpose_reset_tokens_are_refused(
    client: TestClient[Any], container: Container
) -> None:
    user = create_user(container)
    verify = container.identity.verification_token(user["id"], "email-id", user["email"])
    for token in ("garbage", verify, verify[:-2] + "xx", "é.1.x"):
        answer = client.post(
            "/api/v1/auth/reset-password", json={"token": token, "password": "brand-new-pass-9"}
        )
        assert_error(answer, 400)
    assert login(client, user["username"]).status_code == 200


# -- email verification --------------------------------------------------------------------


def test_the_signup_email_link_verifies_the_primary_email(
    client: TestClient[Any], container: Container
) -> None:
    body = signup_body()
    assert client.post("/api/v1/auth/signup", json=body).status_code == 201
    message = read_mail(container, body["email"], "signup")
    assert "/api/v1/auth/verify-email?token=" in message.get_content()
    verified = client.get("/api/v1/auth/verify-email", params={"token": link_token(message)})
    assert verified.status_code == 200 and verified.json() == {"status": "verified"}
    # Verifying again is harmless.
    again = client.get("/api/v1/auth/verify-email", params={"token": link_token(message)})
    assert again.status_code == 200
    user = container.identity.approve(body["username"], Actor.operator()).value
    assert user is not None
    token = create_key(container, {"id": str(user.id)})
    emails = client.get("/api/v1/auth/emails", headers=bearer(token)).json()["results"]
    assert [(e["email"], e["is_primary"], e["verified"]) for e in emails] == [
        (body["email"], True, True)
    ]


def test_an_added_email_is_verified_through_its_own_link(
    client: TestClient[Any], container: Container
) -> None:
    user = create_user(container)
    token = create_key(container, user)
    extra = f"{name('extra')}@example.org"
    added = client.post("/api/v1/auth/emails", json={"email": extra}, headers=bearer(token))
    assert added.status_code == 201 and added.json()["verified"] is False
    message = read_mail(container, extra, "verify-email")
    assert (
        client.get("/api/v1/auth/verify-email", params={"token": link_token(message)}).status_code
        == 200
    )
    emails = client.get("/api/v1/auth/emails", headers=bearer(token)).json()["results"]
    assert {e["email"]: e["verified"] for e in emails} == {user["email"]: False, extra: True}


def test_bad_verification_tokens_are_refused(client: TestClient[Any]) -> None:
    for token in ("nope", "a.b.c", "é.1.x", ""):
        assert_error(client.get("/api/v1/auth/verify-email", params={"token": token}), 400)
    assert_error(client.get("/api/v1/auth/verify-email"), 400)


# -- device login --------------------------------------------------------------------------


def test_the_device_flow_hands_the_cli_a_working_key(
    client: TestClient[Any], container: Container
) -> None:
    identity = container.identity
    identity.policy = dataclasses.replace(identity.policy, device_poll_interval=1)
    user = create_user(container)
    user_key = create_key(container, user)

    code = client.post("/api/v1/auth/device/code")
    assert code.status_code == 200, code.text
    grant = code.json()
    assert grant["interval"] == 1 and grant["expires_in"] > 0
    assert re.fullmatch(r"[B-Z]{4}-[B-Z]{4}", grant["user_code"])
    assert grant["verification_uri_complete"].endswith(f"/console/device?code={grant['user_code']}")

    def poll() -> dict[str, Any]:
        answer = client.post(
            "/api/v1/auth/device/token", json={"device_code": grant["device_code"]}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    assert poll() == {"error": "authorization_pending"}
    assert poll() == {"error": "slow_down"}  # faster than the interval

    assert_error(
        client.post("/api/v1/auth/device/confirm", json={"user_code": grant["user_code"]}), 401
    )
    assert_error(
        client.post(
            "/api/v1/auth/device/confirm", json={"user_code": "BBBB-BBBB"}, headers=bearer(user_key)
        ),
        404,
    )
    confirmed = client.post(
        "/api/v1/auth/device/confirm",
        json={"user_code": grant["user_code"].lower()},
        headers=bearer(user_key),
    )
    assert confirmed.status_code == 200 and confirmed.json() == {"status": "confirmed"}

    time.sleep(1.05)
    issued = poll()
    assert set(issued) == {"access_token"} and issued["access_token"].startswith("tuk-")
    me = client.get("/api/v1/auth/me", headers=bearer(issued["access_token"]))
    assert me.status_code == 200 and me.json()["user"]["id"] == user["id"]
    keys = client.get("/api/v1/auth/keys", headers=bearer(user_key)).json()["results"]
    assert any(k["token_hint"] == issued["access_token"][-4:] for k in keys)
    # The code is spent: no second key.
    assert poll() == {"error": "expired_token"}


def test_unknown_device_codes_are_refused(client: TestClient[Any]) -> None:
    assert_error(client.post("/api/v1/auth/device/token", json={"device_code": "made-up"}), 400)
    assert_error(client.post("/api/v1/auth/device/token", json={}), 400)


# -- account deletion ----------------------------------------------------------------------


def test_deleting_the_account_needs_the_password_and_disables_its_keys(
    client: TestClient[Any], container: Container
) -> None:
    user = create_user(container)
    token = create_key(container, user)
    other = create_key(container, user, "second")
    assert_error(client.request("DELETE", "/api/v1/auth/me", headers=bearer(token)), 400)
    assert_error(
        client.request(
            "DELETE", "/api/v1/auth/me", json={"password": "wrong-password"}, headers=bearer(token)
        ),
        400,
    )
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    deleted = client.request(
        "DELETE", "/api/v1/auth/me", json={"password": PASSWORD}, headers=bearer(token)
    )
    assert deleted.status_code == 204, deleted.text
    for key in (token, other):
        assert_error(client.get("/api/v1/auth/me", headers=bearer(key)), 401)
    assert_error(login(client, user["username"]), 401, "INVALID_CREDENTIALS")
    listed = client.get("/api/v1/auth/check-username", params={"username": user["username"]})
    assert listed.json() == {"available": False}


# -- operator routes -----------------------------------------------------------------------


def test_operators_list_and_approve_pending_signups(
    client: TestClient[Any], container: Container
) -> None:
    admin = create_user(container, admin=True)
    admin_key = create_key(container, admin)
    pending = [signup_body() for _ in range(3)]
    for body in pending:
        assert client.post("/api/v1/auth/signup", json=body).status_code == 201
    active = create_user(container)

    listed = client.get(
        "/api/v1/admin/users", params={"status": "pending"}, headers=bearer(admin_key)
    )
    assert listed.status_code == 200, listed.text
    names = [u["username"] for u in listed.json()["results"]]
    assert names == sorted(b["username"] for b in pending)
    assert listed.json()["pagination"]["has_more"] is False

    page = client.get(
        "/api/v1/admin/users", params={"status": "pending", "amount": 2}, headers=bearer(admin_key)
    ).json()
    assert len(page["results"]) == 2 and page["pagination"]["has_more"] is True
    rest = client.get(
        "/api/v1/admin/users",
        params={"status": "pending", "after": page["pagination"]["next_offset"]},
        headers=bearer(admin_key),
    ).json()
    assert [u["username"] for u in page["results"] + rest["results"]] == names

    target = pending[0]["username"]
    approved = client.post(f"/api/v1/admin/users/{target}/approve", headers=bearer(admin_key))
    assert approved.status_code == 200 and approved.json()["status"] == "active"
    assert login(client, target).status_code == 200
    still = client.get(
        "/api/v1/admin/users", params={"status": "pending"}, headers=bearer(admin_key)
    )
    assert target not in [u["username"] for u in still.json()["results"]]
    assert_error(
        client.post(f"/api/v1/admin/users/{target}/approve", headers=bearer(admin_key)), 409
    )
    assert_error(
        client.post(f"/api/v1/admin/users/{name()}/approve", headers=bearer(admin_key)), 404
    )
    assert_error(
        client.get("/api/v1/admin/users", params={"status": "bogus"}, headers=bearer(admin_key)),
        400,
    )

    normal_key = create_key(container, active)
    assert_error(client.get("/api/v1/admin/users", headers=bearer(normal_key)), 403)
    assert_error(
        client.post(
            f"/api/v1/admin/users/{pending[1]['username']}/approve", headers=bearer(normal_key)
        ),
        403,
    )
    assert_error(login(client, pending[1]["username"]), 403, "PENDING_APPROVAL")
    client.cookies.clear()  # the approved user signed in above
    assert_error(client.get("/api/v1/admin/users"), 401)
