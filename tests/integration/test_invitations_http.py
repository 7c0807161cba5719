"""Organizations over HTTP, on SQLite and PostgreSQL: invitations, by email and by username."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from domain.shared.values import parse_iso
from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from tests.apps import lent_app
from tests.builders import name, signup_body
from tests.conftest import FAST_HASHER
from tests.organizations_http_helpers import effective, group_view, members_of
from tests.orgs import (
    API,
    Person,
    add_member,
    assert_error,
    attach,
    builtin_policy,
    create_group,
    create_org,
    create_policy,
    link_token,
    person,
    read_mail,
)

INVITATION_FIELDS = {
    "id",
    "organization_id",
    "email",
    "invited_by",
    "status",
    "created_at",
    "expires_at",
}


# -- invitations ----------------------------------------------------------------------------


def invite(client: TestClient[Any], owner: Person, org: str, **body: Any) -> Any:
    return client.post(f"{API}/organizations/{org}/invitations", json=body, headers=owner.auth)


def verify_email(client: TestClient[Any], container: Container, who: Person) -> None:
    """Follow the link of the signup email: the primary address becomes verified."""
    token = link_token(read_mail(container, who.email, "signup"))
    verified = client.get(f"{API}/auth/verify-email", params={"token": token})
    assert verified.status_code == 200, verified.text


def my_invitations(client: TestClient[Any], who: Person) -> list[dict[str, Any]]:
    response = client.get(f"{API}/invitations", headers=who.auth)
    assert response.status_code == 200, response.text
    return response.json()["results"]  # type: ignore[no-any-return]


def test_an_invitation_by_email_applies_its_groups_and_policies_on_accept(
    client: TestClient[Any], container: Container
) -> None:
    owner, invitee = person(container), person(container)
    verify_email(client, container, invitee)
    org = create_org(client, owner)
    group = create_group(client, owner, org["name"])
    policy = create_policy(client, owner, org["name"], "ListRoles()")
    response = invite(
        client,
        owner,
        org["name"],
        email=invitee.email.upper(),
        group_ids=[group["id"]],
        policy_ids=[policy["id"]],
    )
    assert response.status_code == 201, response.text
    invitation = response.json()
    assert set(invitation) == INVITATION_FIELDS
    assert invitation["email"] == invitee.email and invitation["status"] == "pending"
    assert invitation["organization_id"] == org["id"] and invitation["invited_by"] == owner.id
    created, expires = parse_iso(invitation["created_at"]), parse_iso(invitation["expires_at"])
    assert created is not None and expires is not None
    lifetime = expires - created
    # expires_at comes from the application clock, created_at from the event: a hair apart.
    assert abs(lifetime - timedelta(days=7)) < timedelta(seconds=1)
    listed = client.get(f"{API}/organizations/{org['name']}/invitations", headers=owner.auth)
    assert listed.json() == {"results": [invitation]}

    mine = my_invitations(client, invitee)
    assert len(mine) == 1
    assert mine[0] == {
        **invitation,
        "organization_name": org["name"],
        "organization_display_name": org["display_name"],
        "inviter_name": f"User {owner.username}",
    }
    accepted = client.post(f"{API}/invitations/{invitation['id']}/accept", headers=invitee.auth)
    assert accepted.status_code == 200 and accepted.json() == {"status": "accepted"}
    assert members_of(client, owner, org["name"]) == {owner.username, invitee.username}
    members = group_view(client, owner, org["name"], group["id"])["members"]
    assert [(m["subject_type"], m["subject_id"]) for m in members] == [("user", invitee.id)]
    assert sorted(effective(client, invitee, org["name"])) == [
        ("AgentManager", "direct", ""),
        ("Member", "direct", ""),
        (policy["name"], "direct", ""),
    ]
    assert my_invitations(client, invitee) == []
    listed = client.get(f"{API}/organizations/{org['name']}/invitations", headers=owner.auth)
    assert listed.json()["results"][0]["status"] == "accepted"
    again = client.post(f"{API}/invitations/{invitation['id']}/accept", headers=invitee.auth)
    assert_error(again, 409)


def test_invitations_by_username_conflicts_decline_and_revoke(
    client: TestClient[Any], container: Container
) -> None:
    owner, member, invitee, stranger = (person(container) for _ in range(4))
    org = create_org(client, owner)["name"]
    add_member(client, owner, org, member)
    assert_error(invite(client, owner, org, username=name("ghost")), 404)
    assert_error(invite(client, owner, org, username=member.username), 409)
    assert_error(invite(client, owner, org, email=member.email), 409)
    assert_error(invite(client, owner, org), 400)
    assert_error(invite(client, owner, org, username=invitee.username, email=invitee.email), 400)
    assert_error(
        invite(client, owner, org, email=name("x") + "@example.com", group_ids=["nope"]), 400
    )
    assert_error(invite(client, member, org, username=invitee.username), 403, "FORBIDDEN")

    first = invite(client, owner, org, username=invitee.username)
    assert first.status_code == 201 and first.json()["email"] == invitee.email
    assert_error(invite(client, owner, org, username=invitee.username), 409)
    assert_error(invite(client, owner, org, email=invitee.email), 409)
    invitation_id = first.json()["id"]
    # Only the invitee can answer.
    assert_error(
        client.post(f"{API}/invitations/{invitation_id}/accept", headers=stranger.auth), 404
    )
    declined = client.post(f"{API}/invitations/{invitation_id}/decline", headers=invitee.auth)
    assert declined.status_code == 200 and declined.json() == {"status": "declined"}
    assert_error(
        client.post(f"{API}/invitations/{invitation_id}/accept", headers=invitee.auth), 409
    )
    revoke_declined = client.delete(
        f"{API}/organizations/{org}/invitations/{invitation_id}", headers=owner.auth
    )
    assert_error(revoke_declined, 409)

    second = invite(client, owner, org, username=invitee.username)
    assert second.status_code == 201
    revoke = f"{API}/organizations/{org}/invitations/{second.json()['id']}"
    assert_error(client.delete(revoke, headers=member.auth), 403)
    assert client.delete(revoke, headers=owner.auth).status_code == 204
    assert_error(client.delete(revoke, headers=owner.auth), 409)
    gone = client.post(f"{API}/invitations/{second.json()['id']}/accept", headers=invitee.auth)
    assert_error(gone, 410, "GONE")
    statuses = {
        i["id"]: i["status"]
        for i in client.get(f"{API}/organizations/{org}/invitations", headers=owner.auth).json()[
            "results"
        ]
    }
    assert statuses == {invitation_id: "declined", second.json()["id"]: "revoked"}
    assert my_invitations(client, invitee) == []
    assert members_of(client, owner, org) == {owner.username, member.username}


def test_an_invitation_hands_out_only_what_the_inviter_may_grant(
    client: TestClient[Any], container: Container
) -> None:
    owner, inviter, accomplice = person(container), person(container), person(container)
    o = create_org(client, owner)["name"]
    add_member(client, owner, o, inviter)
    group = create_group(client, owner, o, "eng")
    readers = create_policy(client, owner, o, "ListRoles()", "readers")
    may_invite = create_policy(client, owner, o, "CreateInvitation()")
    attach(client, owner, o, may_invite["id"], "user", inviter.id)
    owner_policy = builtin_policy(client, owner, o, "Owner")
    # Inviting someone with the Owner policy would make them an owner: an escalation.
    for grants in ({"policy_ids": [owner_policy["id"]]}, {"group_ids": [group["id"]]}):
        refused = invite(client, inviter, o, username=accomplice.username, **grants)
        assert_error(refused, 403, "FORBIDDEN")
    may_grant = create_policy(
        client, owner, o, 'AttachPolicy(policy="readers")\nAddGroupMember(group="eng")'
    )
    attach(client, owner, o, may_grant["id"], "user", inviter.id)
    refused = invite(
        client, inviter, o, username=accomplice.username, policy_ids=[owner_policy["id"]]
    )
    assert_error(refused, 403)
    allowed = invite(
        client,
        inviter,
        o,
        username=accomplice.username,
        policy_ids=[readers["id"]],
        group_ids=[group["id"]],
    )
    assert allowed.status_code == 201, allowed.text
    accepted = client.post(
        f"{API}/invitations/{allowed.json()['id']}/accept", headers=accomplice.auth
    )
    assert accepted.status_code == 200
    assert ("readers", "direct", "") in effective(client, accomplice, o)
    assert ("Owner", "direct", "") not in effective(client, accomplice, o)


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock_client(backend: Settings) -> Iterator[tuple[Clock, Container, TestClient[Any]]]:
    clock = Clock()
    container = bootstrap(backend, clock=clock, hasher=FAST_HASHER)
    with lent_app(container) as app, TestClient(app, base_url="http://t.local") as c:
        yield clock, container, c
    container.close()


def test_invitations_expire_after_seven_days(
    clock_client: tuple[Clock, Container, TestClient[Any]],
) -> None:
    clock, container, client = clock_client
    owner, invitee = person(container), person(container)
    org = create_org(client, owner)["name"]
    first = invite(client, owner, org, username=invitee.username).json()
    clock.now += timedelta(days=6, hours=23)
    assert [i["id"] for i in my_invitations(client, invitee)] == [first["id"]]
    clock.now += timedelta(hours=1, seconds=1)
    assert my_invitations(client, invitee) == []
    listed = client.get(f"{API}/organizations/{org}/invitations", headers=owner.auth).json()
    assert listed["results"][0]["status"] == "expired"
    accept = client.post(f"{API}/invitations/{first['id']}/accept", headers=invitee.auth)
    assert "expired" in assert_error(accept, 410, "GONE")["message"]
    revoke = client.delete(
        f"{API}/organizations/{org}/invitations/{first['id']}", headers=owner.auth
    )
    assert_error(revoke, 409)
    # An expired invitation does not block a new one.
    fresh = invite(client, owner, org, username=invitee.username)
    assert fresh.status_code == 201
    accepted = client.post(f"{API}/invitations/{fresh.json()['id']}/accept", headers=invitee.auth)
    assert accepted.json() == {"status": "accepted"}


def test_a_signup_matching_an_open_invitation_is_active_and_the_email_carries_a_token(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org = create_org(client, owner)
    body = signup_body()
    invitation = invite(client, owner, org["name"], email=body["email"]).json()

    message = read_mail(container, body["email"], "invitation")
    assert org["display_name"] in message["Subject"]
    token = link_token(message)
    validate = f"{API}/auth/validate-invitation-token"
    checked = client.get(validate, params={"token": token, "email": body["email"].upper()})
    assert checked.status_code == 200
    local, _, domain = body["email"].partition("@")
    assert checked.json() == {
        "match": True,
        "invited_email_hint": f"{local[0]}***@{domain}",
        "organization_display_name": org["display_name"],
    }
    assert client.get(validate, params={"token": token}).json()["match"] is False
    other = client.get(validate, params={"token": token, "email": "x@example.com"})
    assert other.json()["match"] is False
    assert_error(client.get(validate, params={"token": token + "x"}), 404)
    assert_error(client.get(validate), 400)

    signed_up = client.post(f"{API}/auth/signup", json=body)
    assert signed_up.status_code == 201 and signed_up.json()["status"] == "active"
    uninvited = client.post(f"{API}/auth/signup", json=signup_body())
    assert uninvited.json()["status"] == "pending"
    login = client.post(
        f"{API}/auth/login", json={"login": body["username"], "password": body["password"]}
    )
    assert login.status_code == 200
    client.cookies.clear()
    newcomer = Person(signed_up.json()["id"], body["username"], body["email"], "")
    newcomer.token = client.post(
        f"{API}/auth/keys",
        json={"name": "k"},
        headers={"Authorization": "Basic " + _basic(body["username"], body["password"])},
    ).json()["token"]
    # The address is not verified yet: the invitation shows only with proof (the token).
    assert my_invitations(client, newcomer) == []
    accept = f"{API}/invitations/{invitation['id']}/accept"
    assert_error(client.post(accept, headers=newcomer.auth), 403, "FORBIDDEN")
    accepted = client.post(accept, json={"token": token}, headers=newcomer.auth)
    assert accepted.status_code == 200 and accepted.json() == {"status": "accepted"}
    # Once accepted the token no longer validates.
    assert_error(client.get(validate, params={"token": token}), 404)


def _basic(login: str, password: str) -> str:
    return base64.b64encode(f"{login}:{password}".encode()).decode()


# -- proof of the invited address (issue #8, finding 2) ------------------------------------


def test_signing_up_with_an_invited_address_does_not_join_the_organization(
    client: TestClient[Any], container: Container
) -> None:
    """The reported takeover: sign up as the invited address, list, accept, read."""
    owner = person(container)
    org = create_org(client, owner)["name"]
    body = signup_body()
    invitation = invite(client, owner, org, email=body["email"]).json()
    signed_up = client.post(f"{API}/auth/signup", json=body)
    assert signed_up.status_code == 201 and signed_up.json()["status"] == "active"
    squatter = Person(signed_up.json()["id"], body["username"], body["email"], "")
    squatter.token = client.post(
        f"{API}/auth/keys",
        json={"name": "k"},
        headers={"Authorization": "Basic " + _basic(body["username"], body["password"])},
    ).json()["token"]
    assert my_invitations(client, squatter) == []
    for answer in ("accept", "decline"):
        url = f"{API}/invitations/{invitation['id']}/{answer}"
        assert "verify" in assert_error(client.post(url, headers=squatter.auth), 403)["message"]
    # A token of another invitation proves nothing about this one.
    other = invite(client, owner, org, email=f"{name('other')}@example.com").json()
    other_token = link_token(read_mail(container, other["email"], "invitation"))
    url = f"{API}/invitations/{invitation['id']}/accept"
    assert_error(client.post(url, params={"token": other_token}, headers=squatter.auth), 403)
    assert_error(client.post(url, json={"token": "forged"}, headers=squatter.auth), 403)
    assert members_of(client, owner, org) == {owner.username}
    assert_error(client.get(f"{API}/organizations/{org}", headers=squatter.auth), 404)
    listed = client.get(f"{API}/organizations/{org}/invitations", headers=owner.auth).json()
    assert {i["id"]: i["status"] for i in listed["results"]}[invitation["id"]] == "pending"


def test_a_verified_address_or_the_emailed_token_proves_the_invitation(
    client: TestClient[Any], container: Container
) -> None:
    owner, verified, by_token = person(container), person(container), person(container)
    org = create_org(client, owner)["name"]
    first = invite(client, owner, org, email=verified.email).json()
    second = invite(client, owner, org, email=by_token.email).json()
    assert my_invitations(client, verified) == []
    verify_email(client, container, verified)
    assert [i["id"] for i in my_invitations(client, verified)] == [first["id"]]
    accepted = client.post(f"{API}/invitations/{first['id']}/accept", headers=verified.auth)
    assert accepted.status_code == 200, accepted.text
    # The token from the email, as `?token=` (the body shape is covered above).
    token = link_token(read_mail(container, by_token.email, "invitation"))
    declined = client.post(
        f"{API}/invitations/{second['id']}/decline", params={"token": token}, headers=by_token.auth
    )
    assert declined.status_code == 200 and declined.json() == {"status": "declined"}
    assert members_of(client, owner, org) == {owner.username, verified.username}


def test_the_console_invitation_page_accepts_with_the_emailed_token(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org = create_org(client, owner)["name"]
    body = signup_body()
    invite(client, owner, org, email=body["email"])
    token = link_token(read_mail(container, body["email"], "invitation"))
    assert client.post(f"{API}/auth/signup", json=body).status_code == 201
    login = {"login": body["username"], "password": body["password"]}
    assert client.post(f"{API}/auth/login", json=login).status_code == 200
    page = client.get("/console/invitations", params={"token": token})
    assert page.status_code == 200, page.text
    found = re.search(r"name='invitation' value='([^']+)'", page.text)
    assert found is not None and f"name='token' value='{token}'" in page.text
    form = {
        "csrf": client.cookies.get("tilde_csrf") or "",
        "invitation": found.group(1),
        "token": token,
        "decision": "accept",
    }
    answered = client.post("/console/invitations", data=form)
    assert answered.status_code == 200 and "Done." in answered.text, answered.text
    assert body["username"] in members_of(client, owner, org)
