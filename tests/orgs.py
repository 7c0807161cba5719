"""Helpers shared by the organization, authorization and audit tests."""

from __future__ import annotations

import email
import email.policy
import re
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote

from litestar.testing import TestClient

from infra.bootstrap import Container
from tests.builders import name
from tests.conftest import bearer, create_key, create_user

API = "/api/v1"
TOKEN_IN_LINK = re.compile(r"[?&]token=([^\s&]+)")


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The spec's error body `{message, code, request_id}` with the expected status."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    body = response.json()
    assert set(body) == {"message", "code", "request_id"}, body
    assert body["message"] and body["request_id"]
    if code:
        assert body["code"] == code, body
    return body


def org_not_found(response: Any, org: str) -> None:
    """What an outsider sees for anything under `/organizations/{org}`."""
    body = assert_error(response, 404, "NOT_FOUND")
    assert body["message"] == f"organization '{org}' not found", body


@dataclass
class Person:
    """A user with a personal API key."""

    id: str
    username: str
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.token)


def person(container: Container, username: str | None = None) -> Person:
    user = create_user(container, username)
    return Person(user["id"], user["username"], user["email"], create_key(container, user))


def org_name(prefix: str = "org") -> str:
    return name(prefix)


def create_org(client: TestClient[Any], owner: Person, org: str | None = None) -> dict[str, Any]:
    org = org or org_name()
    response = client.post(
        f"{API}/organizations", json={"name": org, "display_name": f"The {org}"}, headers=owner.auth
    )
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def add_member(client: TestClient[Any], owner: Person, org: str, who: Person) -> dict[str, Any]:
    """The legacy direct add (`POST /members {"username"}`)."""
    response = client.post(
        f"{API}/organizations/{org}/members", json={"username": who.username}, headers=owner.auth
    )
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def create_group(
    client: TestClient[Any], actor: Person, org: str, group: str | None = None
) -> dict[str, Any]:
    response = client.post(
        f"{API}/organizations/{org}/groups",
        json={"name": group or name("g-"), "description": "a group"},
        headers=actor.auth,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def add_to_group(
    client: TestClient[Any], actor: Person, org: str, group_id: str, kind: str, ident: str
) -> None:
    response = client.post(
        f"{API}/organizations/{org}/groups/{group_id}/members",
        json={"subject_type": kind, "subject_id": ident},
        headers=actor.auth,
    )
    assert response.status_code == 201, response.text


def create_policy(
    client: TestClient[Any], actor: Person, org: str, text: str, policy: str | None = None
) -> dict[str, Any]:
    response = client.post(
        f"{API}/organizations/{org}/policies",
        json={"name": policy or name("p-"), "policy_text": text, "description": "a policy"},
        headers=actor.auth,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def attach(
    client: TestClient[Any], actor: Person, org: str, policy_id: str, kind: str, ident: str
) -> None:
    response = client.post(
        f"{API}/organizations/{org}/policies/{policy_id}/attachments",
        json={"principal_type": kind, "principal_id": ident},
        headers=actor.auth,
    )
    assert response.status_code == 201, response.text


def builtin_policy(client: TestClient[Any], actor: Person, org: str, policy: str) -> dict[str, Any]:
    response = client.get(
        f"{API}/organizations/{org}/policies", params={"amount": 1000}, headers=actor.auth
    )
    assert response.status_code == 200, response.text
    return next(p for p in response.json()["results"] if p["name"] == policy)  # type: ignore[no-any-return]


def create_role(
    client: TestClient[Any], actor: Person, org: str, role: str | None = None
) -> dict[str, Any]:
    response = client.post(
        f"{API}/organizations/{org}/roles",
        json={"name": role or name("r-"), "description": "a role"},
        headers=actor.auth,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def create_agent(
    client: TestClient[Any],
    actor: dict[str, str] | Person,
    org: str,
    agent: str | None = None,
    inline_policy: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": agent or name("a-"), "description": "an agent"}
    if inline_policy is not None:
        body["inline_policy"] = inline_policy
    headers = actor.auth if isinstance(actor, Person) else actor
    response = client.post(f"{API}/organizations/{org}/agents", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def create_principal_key(
    client: TestClient[Any], actor: Person, org: str, kind: str, principal: str
) -> dict[str, Any]:
    """A `trk-`/`tak-` key for a role or agent (`kind` is "roles" or "agents")."""
    response = client.post(
        f"{API}/organizations/{org}/{kind}/{principal}/auth/keys",
        json={"name": name("k-")},
        headers=actor.auth,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


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
