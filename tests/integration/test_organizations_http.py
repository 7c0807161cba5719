"""Organizations over HTTP, on SQLite and PostgreSQL: orgs, members, invitations, groups,
policies, roles and agents."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from domain.shared.values import parse_iso
from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from interfaces.http.app import create_app
from tests.builders import name, signup_body
from tests.conftest import FAST_HASHER, bearer
from tests.orgs import (
    API,
    Person,
    add_member,
    add_to_group,
    assert_error,
    attach,
    builtin_policy,
    create_agent,
    create_group,
    create_org,
    create_policy,
    create_principal_key,
    create_role,
    link_token,
    org_not_found,
    person,
    read_mail,
)

ORG_FIELDS = {"id", "name", "display_name", "status", "notes", "created_at"}
INVITATION_FIELDS = {
    "id",
    "organization_id",
    "email",
    "invited_by",
    "status",
    "created_at",
    "expires_at",
}


def eventually(probe: Callable[[], Any], timeout: float = 10.0) -> Any:
    """The first truthy answer of `probe`, polling until `timeout`."""
    deadline = time.monotonic() + timeout
    while not (answer := probe()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return answer


def effective(client: TestClient[Any], who: Person, org: str, **params: str) -> list[Any]:
    response = client.get(
        f"{API}/organizations/{org}/effective-policies", params=params, headers=who.auth
    )
    assert response.status_code == 200, response.text
    return [(p["policy_name"], p["source"], p["source_name"]) for p in response.json()["results"]]


def members_of(client: TestClient[Any], who: Person, org: str) -> set[str]:
    response = client.get(f"{API}/organizations/{org}/members", headers=who.auth)
    assert response.status_code == 200, response.text
    return {m["username"] for m in response.json()["results"]}


def group_view(client: TestClient[Any], who: Person, org: str, group_id: str) -> dict[str, Any]:
    response = client.get(f"{API}/organizations/{org}/groups/{group_id}", headers=who.auth)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


# -- organizations --------------------------------------------------------------------------


def test_organization_names_follow_the_rules(client: TestClient[Any], container: Container) -> None:
    owner = person(container)
    org = create_org(client, owner)
    assert set(org) == ORG_FIELDS
    assert org["status"] == "active" and org["notes"] is None
    assert parse_iso(org["created_at"]) is not None
    for bad in ("A", "a", "Upper", "-dash", "has space", "under_score", "x" * 64, ""):
        response = client.post(
            f"{API}/organizations", json={"name": bad, "display_name": "X"}, headers=owner.auth
        )
        assert_error(response, 400, "BAD_REQUEST")
    for reserved in ("api", "auth", "admin", "system"):
        response = client.post(
            f"{API}/organizations", json={"name": reserved, "display_name": "X"}, headers=owner.auth
        )
        assert "reserved" in assert_error(response, 400)["message"]
    assert create_org(client, owner, "a" + "b" * 62)["name"] == "a" + "b" * 62
    duplicate = client.post(
        f"{API}/organizations", json={"name": org["name"], "display_name": "X"}, headers=owner.auth
    )
    assert_error(duplicate, 409, "CONFLICT")
    missing = client.post(f"{API}/organizations", json={"name": name("o")}, headers=owner.auth)
    assert_error(missing, 400)

    def check(value: str) -> dict[str, Any]:
        response = client.get(
            f"{API}/organizations/check-name", params={"name": value}, headers=owner.auth
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    assert check(org["name"]) == {"available": False, "reason": "taken"}
    assert check(name("free")) == {"available": True, "reason": ""}
    assert check("Not-Valid") == {"available": False, "reason": "invalid"}
    assert check("admin") == {"available": False, "reason": "reserved"}
    assert_error(client.get(f"{API}/organizations/check-name", headers=owner.auth), 400)
    assert_error(client.get(f"{API}/organizations/check-name", params={"name": "x"}), 401)


def test_list_get_and_delete_an_organization(client: TestClient[Any], container: Container) -> None:
    owner, member, outsider = person(container), person(container), person(container)
    org = create_org(client, owner)["name"]
    add_member(client, owner, org, member)
    create_org(client, outsider)
    for who in (owner, member):
        listed = client.get(f"{API}/organizations", headers=who.auth).json()["results"]
        assert org in [o["name"] for o in listed]
        assert all(set(o) == ORG_FIELDS for o in listed)
        got = client.get(f"{API}/organizations/{org}", headers=who.auth)
        assert got.status_code == 200 and got.json()["display_name"] == f"The {org}"
    listed = client.get(f"{API}/organizations", headers=outsider.auth).json()["results"]
    assert org not in [o["name"] for o in listed]
    org_not_found(client.get(f"{API}/organizations/{org}", headers=outsider.auth), org)
    org_not_found(client.delete(f"{API}/organizations/{org}", headers=outsider.auth), org)
    assert_error(client.delete(f"{API}/organizations/{org}", headers=member.auth), 403, "FORBIDDEN")
    assert client.delete(f"{API}/organizations/{org}", headers=owner.auth).status_code == 204
    org_not_found(client.get(f"{API}/organizations/{org}", headers=owner.auth), org)
    listed = client.get(f"{API}/organizations", headers=member.auth).json()["results"]
    assert org not in [o["name"] for o in listed]
    # The name is free again.
    again = client.get(f"{API}/organizations/check-name", params={"name": org}, headers=owner.auth)
    assert again.json() == {"available": True, "reason": ""}
    assert create_org(client, outsider, org)["name"] == org


def test_me_lists_the_users_organizations(client: TestClient[Any], container: Container) -> None:
    owner, member = person(container), person(container)
    first, second = create_org(client, owner), create_org(client, owner)
    add_member(client, owner, second["name"], member)
    me = client.get(f"{API}/auth/me", headers=owner.auth).json()
    assert sorted(me["organizations"], key=lambda o: o["name"]) == sorted(
        ({k: o[k] for k in ("id", "name", "display_name")} for o in (first, second)),
        key=lambda o: o["name"],
    )
    me = client.get(f"{API}/auth/me", headers=member.auth).json()
    assert [o["name"] for o in me["organizations"]] == [second["name"]]


# -- members --------------------------------------------------------------------------------


def test_members_are_listed_and_added_by_username(
    client: TestClient[Any], container: Container
) -> None:
    owner, member = person(container), person(container)
    org = create_org(client, owner)
    added = add_member(client, owner, org["name"], member)
    assert added["user_id"] == member.id and added["username"] == member.username
    response = client.get(f"{API}/organizations/{org['name']}/members", headers=member.auth)
    rows = {m["username"]: m for m in response.json()["results"]}
    assert set(rows) == {owner.username, member.username}
    assert rows[member.username] == {
        "organization_id": org["id"],
        "user_id": member.id,
        "username": member.username,
        "full_name": f"User {member.username}",
        "email": member.email,
        "joined_at": rows[member.username]["joined_at"],
    }
    add = f"{API}/organizations/{org['name']}/members"
    assert_error(client.post(add, json={"username": member.username}, headers=owner.auth), 409)
    assert_error(client.post(add, json={"username": name("ghost")}, headers=owner.auth), 404)
    pending = signup_body()
    container.identity.signup(**pending)
    assert_error(client.post(add, json={"username": pending["username"]}, headers=owner.auth), 404)
    # A direct add grants the built-in Member and AgentManager policies.
    assert sorted(effective(client, owner, org["name"], user_id=member.id)) == [
        ("AgentManager", "direct", ""),
        ("Member", "direct", ""),
    ]
    assert effective(client, owner, org["name"]) == [("Owner", "direct", "")]
    # Members may not add members.
    newcomer = person(container)
    response = client.post(add, json={"username": newcomer.username}, headers=member.auth)
    assert_error(response, 403, "FORBIDDEN")


def test_removing_a_member_drops_group_memberships_and_direct_attachments(
    client: TestClient[Any], container: Container
) -> None:
    owner, member = person(container), person(container)
    org = create_org(client, owner)["name"]
    add_member(client, owner, org, member)
    group = create_group(client, owner, org)
    add_to_group(client, owner, org, group["id"], "user", member.id)
    extra = create_policy(client, owner, org, "ListGroups()")
    attach(client, owner, org, extra["id"], "user", member.id)
    grouped = create_policy(client, owner, org, "ListRoles()")
    attach(client, owner, org, grouped["id"], "group", group["id"])
    assert client.get(f"{API}/organizations/{org}", headers=member.auth).status_code == 200

    removed = client.delete(f"{API}/organizations/{org}/members/{member.id}", headers=owner.auth)
    assert removed.status_code == 204
    assert members_of(client, owner, org) == {owner.username}
    assert group_view(client, owner, org, group["id"])["members"] == []
    records = client.get(f"{API}/organizations/{org}/attachments", headers=owner.auth).json()
    assert [a for a in records["results"] if a["principal_id"] == member.id] == []
    # The group keeps its own attachment.
    assert [a["policy_id"] for a in records["results"] if a["principal_type"] == "group"] == [
        grouped["id"]
    ]
    org_not_found(client.get(f"{API}/organizations/{org}", headers=member.auth), org)
    again = client.delete(f"{API}/organizations/{org}/members/{member.id}", headers=owner.auth)
    assert_error(again, 404)


def test_the_last_owner_cannot_be_removed(client: TestClient[Any], container: Container) -> None:
    owner, member = person(container), person(container)
    org = create_org(client, owner)["name"]
    add_member(client, owner, org, member)
    remove_owner = f"{API}/organizations/{org}/members/{owner.id}"
    assert_error(client.delete(remove_owner, headers=member.auth), 403, "FORBIDDEN")
    assert (
        "last owner"
        in assert_error(client.delete(remove_owner, headers=owner.auth), 409)["message"]
    )
    owner_policy = builtin_policy(client, owner, org, "Owner")
    attach(client, owner, org, owner_policy["id"], "user", member.id)
    assert client.delete(remove_owner, headers=member.auth).status_code == 204
    assert members_of(client, member, org) == {member.username}
    last = client.delete(f"{API}/organizations/{org}/members/{member.id}", headers=member.auth)
    assert_error(last, 409)
    # Detaching Owner from the last owner would orphan the organization just the same.
    detach = f"{API}/organizations/{org}/policies/{owner_policy['id']}/attachments"
    mine = {"principal_type": "user", "principal_id": member.id}
    assert (
        "last owner"
        in assert_error(client.delete(detach, params=mine, headers=member.auth), 409)["message"]
    )
    assert (
        client.get(f"{API}/organizations/{org}/attachments", headers=member.auth).status_code == 200
    )


# -- invitations ----------------------------------------------------------------------------


def invite(client: TestClient[Any], owner: Person, org: str, **body: Any) -> Any:
    return client.post(f"{API}/organizations/{org}/invitations", json=body, headers=owner.auth)


def my_invitations(client: TestClient[Any], who: Person) -> list[dict[str, Any]]:
    response = client.get(f"{API}/invitations", headers=who.auth)
    assert response.status_code == 200, response.text
    return response.json()["results"]  # type: ignore[no-any-return]


def test_an_invitation_by_email_applies_its_groups_and_policies_on_accept(
    client: TestClient[Any], container: Container
) -> None:
    owner, invitee = person(container), person(container)
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
    with TestClient(create_app(container, run_background=True), base_url="http://t.local") as c:
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
    assert [i["id"] for i in my_invitations(client, newcomer)] == [invitation["id"]]
    accepted = client.post(f"{API}/invitations/{invitation['id']}/accept", headers=newcomer.auth)
    assert accepted.json() == {"status": "accepted"}
    # Once accepted the token no longer validates.
    assert_error(client.get(validate, params={"token": token}), 404)


def _basic(login: str, password: str) -> str:
    return base64.b64encode(f"{login}:{password}".encode()).decode()


# -- groups ---------------------------------------------------------------------------------


def test_groups_crud_and_wire_shapes(client: TestClient[Any], container: Container) -> None:
    owner, member = person(container), person(container)
    org = create_org(client, owner)
    o = org["name"]
    add_member(client, owner, o, member)
    group = create_group(client, owner, o, "b-team")
    assert set(group) == {
        "id",
        "organization_id",
        "name",
        "description",
        "created_by_type",
        "created_by",
        "created_at",
    }
    assert (group["organization_id"], group["created_by_type"], group["created_by"]) == (
        org["id"],
        "user",
        owner.id,
    )
    for label in ("a-team", "c-team"):
        create_group(client, owner, o, label)
    assert_error(
        client.post(f"{API}/organizations/{o}/groups", json={"name": "a-team"}, headers=owner.auth),
        409,
    )
    assert_error(client.post(f"{API}/organizations/{o}/groups", json={}, headers=owner.auth), 400)
    assert_error(
        client.post(f"{API}/organizations/{o}/groups", json={"name": "x"}, headers=member.auth),
        403,
        "FORBIDDEN",
    )
    page = client.get(f"{API}/organizations/{o}/groups", params={"amount": 2}, headers=member.auth)
    assert [g["name"] for g in page.json()["results"]] == ["a-team", "b-team"]
    assert page.json()["pagination"] == {
        "has_more": True,
        "next_offset": "b-team",
        "max_per_page": 1000,
    }
    rest = client.get(
        f"{API}/organizations/{o}/groups",
        params={"amount": 2, "after": "b-team"},
        headers=owner.auth,
    )
    assert [g["name"] for g in rest.json()["results"]] == ["c-team"]
    assert rest.json()["pagination"]["has_more"] is False

    policy = create_policy(client, owner, o, "ListRoles()")
    attach(client, owner, o, policy["id"], "group", group["id"])
    wrapped = group_view(client, member, o, group["id"])
    assert set(wrapped) == {"group", "members", "attachments"}
    assert wrapped["group"] == group and wrapped["members"] == []
    assert [(a["policy_id"], a["principal_name"]) for a in wrapped["attachments"]] == [
        (policy["id"], "b-team")
    ]
    updated = client.put(
        f"{API}/organizations/{o}/groups/{group['id']}",
        json={"name": "b-renamed", "description": "new"},
        headers=owner.auth,
    )
    assert updated.status_code == 200
    assert updated.json() == {**group, "name": "b-renamed", "description": "new"}
    clash = client.put(
        f"{API}/organizations/{o}/groups/{group['id']}", json={"name": "a-team"}, headers=owner.auth
    )
    assert_error(clash, 409)
    # The old name is free again.
    create_group(client, owner, o, "b-team")
    assert (
        client.delete(
            f"{API}/organizations/{o}/groups/{group['id']}", headers=owner.auth
        ).status_code
        == 204
    )
    assert_error(
        client.get(f"{API}/organizations/{o}/groups/{group['id']}", headers=owner.auth), 404
    )
    records = client.get(f"{API}/organizations/{o}/attachments", headers=owner.auth).json()[
        "results"
    ]
    assert [a for a in records if a["principal_id"] == group["id"]] == []
    assert_error(client.get(f"{API}/organizations/{o}/groups/not-a-uuid", headers=owner.auth), 404)


def test_group_members_of_every_kind_and_nesting_without_cycles(
    client: TestClient[Any], container: Container
) -> None:
    owner, member = person(container), person(container)
    o = create_org(client, owner)["name"]
    add_member(client, owner, o, member)
    outer, middle, inner = (create_group(client, owner, o, n) for n in ("outer", "middle", "inner"))
    role = create_role(client, owner, o)
    agent = create_agent(client, member, o)
    add_to_group(client, owner, o, outer["id"], "group", middle["id"])
    add_to_group(client, owner, o, middle["id"], "group", inner["id"])
    for kind, ident in (("user", member.id), ("role", role["id"]), ("agent", agent["id"])):
        add_to_group(client, owner, o, inner["id"], kind, ident)
    members_url = f"{API}/organizations/{o}/groups/{inner['id']}/members"
    response = client.post(
        members_url, json={"subject_type": "user", "subject_id": member.id}, headers=owner.auth
    )
    assert_error(response, 409)
    for body, status in (
        ({"subject_type": "user", "subject_id": owner.id + "0"}, 404),
        ({"subject_type": "robot", "subject_id": member.id}, 400),
        ({"subject_type": "group", "subject_id": outer["id"]}, 400),  # inner ⊂ middle ⊂ outer
    ):
        assert_error(client.post(members_url, json=body, headers=owner.auth), status)
    self_loop = client.post(
        f"{API}/organizations/{o}/groups/{outer['id']}/members",
        json={"subject_type": "group", "subject_id": outer["id"]},
        headers=owner.auth,
    )
    assert "cycle" in assert_error(self_loop, 400)["message"]

    listed = group_view(client, owner, o, inner["id"])["members"]
    assert [(m["subject_type"], m["subject_id"]) for m in listed] == [
        ("user", member.id),
        ("role", role["id"]),
        ("agent", agent["id"]),
    ]
    assert [(m["display_name"], m["username"]) for m in listed] == [
        (f"User {member.username}", member.username),
        (role["name"], ""),
        (agent["name"], ""),
    ]
    assert all(
        set(m) == {"subject_type", "subject_id", "display_name", "username", "added_at"}
        for m in listed
    )

    def groups_of(**params: str) -> list[tuple[str, str, str]]:
        response = client.get(
            f"{API}/organizations/{o}/effective-groups", params=params, headers=owner.auth
        )
        assert response.status_code == 200, response.text
        return [
            (g["group_name"], g["source"], g["source_name"]) for g in response.json()["results"]
        ]

    chain = [("inner", "direct", ""), ("middle", "group", "inner"), ("outer", "group", "middle")]
    assert groups_of(user_id=member.id) == chain
    assert groups_of(principal_type="agent", principal_id=agent["id"]) == chain
    assert groups_of(principal_type="role", principal_id=role["id"]) == chain
    assert groups_of() == []
    mine = client.get(f"{API}/organizations/{o}/effective-groups", headers=member.auth).json()
    assert [g["group_name"] for g in mine["results"]] == ["inner", "middle", "outer"]
    assert_error(
        client.get(
            f"{API}/organizations/{o}/effective-groups",
            params={"principal_type": "role"},
            headers=owner.auth,
        ),
        400,
    )

    # Removing the middle link cuts the chain; the cycle becomes legal.
    removed = client.delete(
        f"{API}/organizations/{o}/groups/{middle['id']}/members",
        params={"subject_type": "group", "subject_id": inner["id"]},
        headers=owner.auth,
    )
    assert removed.status_code == 204
    assert groups_of(user_id=member.id) == [("inner", "direct", "")]
    add_to_group(client, owner, o, inner["id"], "group", outer["id"])
    assert groups_of(principal_type="group", principal_id=middle["id"]) == [
        ("outer", "direct", ""),
        ("inner", "group", "outer"),
    ]
    not_in = client.delete(
        members_url,
        params={"subject_type": "group", "subject_id": middle["id"]},
        headers=owner.auth,
    )
    assert_error(not_in, 404)
    # Deleting a group removes it from its parents.
    assert (
        client.delete(
            f"{API}/organizations/{o}/groups/{outer['id']}", headers=owner.auth
        ).status_code
        == 204
    )
    assert [m["subject_type"] for m in group_view(client, owner, o, inner["id"])["members"]] == [
        "user",
        "role",
        "agent",
    ]


# -- policies -------------------------------------------------------------------------------


def test_policies_crud_builtins_and_wire_shapes(
    client: TestClient[Any], container: Container
) -> None:
    owner, member = person(container), person(container)
    org = create_org(client, owner)
    o = org["name"]
    add_member(client, owner, o, member)
    created = create_policy(client, owner, o, "ListRoles()\n", "readers")
    assert set(created) == {
        "id",
        "organization_id",
        "name",
        "description",
        "policy_text",
        "is_builtin",
        "created_by_type",
        "created_by",
        "created_at",
        "updated_at",
    }
    assert created["policy_text"] == "ListRoles()\n" and created["is_builtin"] is False
    base = f"{API}/organizations/{o}/policies"
    bad = client.post(base, json={"name": "bad", "policy_text": "Nope()"}, headers=owner.auth)
    assert "line 1, column 1" in assert_error(bad, 400)["message"]
    assert_error(
        client.post(
            base, json={"name": "readers", "policy_text": "GetObject()"}, headers=owner.auth
        ),
        409,
    )
    assert_error(
        client.post(base, json={"name": "x", "policy_text": "GetObject()"}, headers=member.auth),
        403,
    )

    listed = client.get(base, headers=member.auth).json()
    by_name = {p["name"]: p for p in listed["results"]}
    assert set(by_name) == {"AgentManager", "Member", "Owner", "readers"}
    assert "policy_text" not in by_name["readers"] and by_name["readers"]["attachment_count"] == 0
    assert by_name["Owner"]["is_builtin"] is True and by_name["Owner"]["attachment_count"] == 1
    assert by_name["Member"]["attachment_count"] == 1
    assert listed["pagination"]["has_more"] is False

    wrapped = client.get(f"{base}/{created['id']}", headers=member.auth).json()
    assert wrapped == {"policy": created, "attachments": []}
    updated = client.put(
        f"{base}/{created['id']}",
        json={"name": "readers2", "policy_text": "ListRoles()\nGetRole()\n"},
        headers=owner.auth,
    )
    assert updated.status_code == 200
    assert updated.json()["name"] == "readers2" and updated.json()["policy_text"].endswith(
        "GetRole()\n"
    )
    assert "policy" not in updated.json()
    invalid = client.put(
        f"{base}/{created['id']}", json={"policy_text": "Get("}, headers=owner.auth
    )
    assert_error(invalid, 400)
    owner_policy = by_name["Owner"]
    assert_error(
        client.put(
            f"{base}/{owner_policy['id']}", json={"policy_text": "GetObject()"}, headers=owner.auth
        ),
        400,
    )
    assert_error(client.delete(f"{base}/{owner_policy['id']}", headers=owner.auth), 400)
    builtin = client.get(f"{base}/{owner_policy['id']}", headers=owner.auth).json()
    assert builtin["policy"]["policy_text"].strip().endswith("*()")
    assert [a["principal_id"] for a in builtin["attachments"]] == [owner.id]

    attach(client, owner, o, created["id"], "user", member.id)
    assert client.delete(f"{base}/{created['id']}", headers=owner.auth).status_code == 204
    assert_error(client.get(f"{base}/{created['id']}", headers=owner.auth), 404)
    assert ("readers2", "direct", "") not in effective(client, member, o)
    # The name can be reused.
    create_policy(client, owner, o, "GetObject()", "readers2")


def test_attach_detach_and_effective_policies_of_every_principal(
    client: TestClient[Any], container: Container
) -> None:
    owner, member = person(container), person(container)
    o = create_org(client, owner)["name"]
    add_member(client, owner, o, member)
    group = create_group(client, owner, o, "crew")
    role = create_role(client, owner, o)
    agent = create_agent(client, member, o, inline_policy="ListMembers()")
    policy = create_policy(client, owner, o, "ListRoles()", "roles-readers")
    base = f"{API}/organizations/{o}/policies/{policy['id']}/attachments"
    targets = [
        ("user", member.id),
        ("group", group["id"]),
        ("role", role["id"]),
        ("agent", agent["id"]),
    ]
    for kind, ident in targets:
        response = client.post(
            base, json={"principal_type": kind, "principal_id": ident}, headers=owner.auth
        )
        assert response.status_code == 201, response.text
        record = response.json()
        assert (record["policy_id"], record["principal_type"], record["principal_id"]) == (
            policy["id"],
            kind,
            ident,
        )
        assert (record["attached_by_type"], record["attached_by"]) == ("user", owner.id)
    assert_error(
        client.post(
            base, json={"principal_type": "user", "principal_id": member.id}, headers=owner.auth
        ),
        409,
    )
    assert_error(
        client.post(
            base, json={"principal_type": "user", "principal_id": "nobody"}, headers=owner.auth
        ),
        404,
    )
    assert_error(
        client.post(
            base, json={"principal_type": "planet", "principal_id": "x"}, headers=owner.auth
        ),
        404,
    )
    assert_error(client.post(base, json={"principal_type": "user"}, headers=owner.auth), 400)
    assert_error(
        client.post(
            base, json={"principal_type": "user", "principal_id": member.id}, headers=member.auth
        ),
        403,
    )

    records = client.get(f"{API}/organizations/{o}/attachments", headers=member.auth).json()[
        "results"
    ]
    mine = sorted(
        (a["principal_type"], a["principal_name"])
        for a in records
        if a["policy_id"] == policy["id"]
    )
    assert mine == sorted(
        [
            ("user", member.username),
            ("group", "crew"),
            ("role", role["name"]),
            ("agent", agent["name"]),
        ]
    )
    wrapped = client.get(
        f"{API}/organizations/{o}/policies/{policy['id']}", headers=owner.auth
    ).json()
    assert len(wrapped["attachments"]) == 4

    add_to_group(client, owner, o, group["id"], "user", member.id)
    assert sorted(effective(client, owner, o, user_id=member.id)) == [
        ("AgentManager", "direct", ""),
        ("Member", "direct", ""),
        ("roles-readers", "direct", ""),
        ("roles-readers", "group", "crew"),
    ]
    assert effective(client, member, o, principal_type="agent", principal_id=agent["id"]) == [
        (f"{agent['name']} (inline)", "inline", ""),
        ("roles-readers", "direct", ""),
    ]
    assert effective(client, member, o, principal_type="role", principal_id=role["id"]) == [
        ("roles-readers", "direct", "")
    ]
    assert effective(client, member, o, principal_type="group", principal_id=group["id"]) == [
        ("roles-readers", "direct", "")
    ]
    url = f"{API}/organizations/{o}/effective-policies"
    assert_error(client.get(url, params={"principal_id": role["id"]}, headers=owner.auth), 400)
    assert_error(client.get(url, params={"user_id": "nobody"}, headers=owner.auth), 404)
    assert_error(
        client.get(
            url, params={"principal_type": "bucket", "principal_id": "x"}, headers=owner.auth
        ),
        400,
    )

    for kind, ident in targets:
        response = client.delete(
            base, params={"principal_type": kind, "principal_id": ident}, headers=owner.auth
        )
        assert response.status_code == 204, response.text
    assert_error(
        client.delete(
            base, params={"principal_type": "user", "principal_id": member.id}, headers=owner.auth
        ),
        404,
    )
    assert ("roles-readers", "direct", "") not in effective(client, member, o)
    assert effective(client, member, o, principal_type="group", principal_id=group["id"]) == []


def test_validate_and_generate(client: TestClient[Any], container: Container) -> None:
    owner, member = person(container), person(container)
    o = create_org(client, owner)["name"]
    add_member(client, owner, o, member)
    url = f"{API}/organizations/{o}/policies:validate"
    valid = client.post(
        url,
        json={"policy_text": 'ListRepositories()\nGetObject(path="a/*")\n'},
        headers=member.auth,
    )
    assert valid.status_code == 200 and valid.json() == {"valid": True, "errors": []}
    invalid = client.post(
        url,
        json={"policy_text": "# ok\nGetObject()\n  Nope()\nGetObject(path=x)"},
        headers=member.auth,
    )
    assert invalid.status_code == 200
    assert invalid.json() == {
        "valid": False,
        "errors": [
            {"line": 3, "column": 3, "message": "unknown action 'Nope'"},
            {
                "line": 4,
                "column": 16,
                "message": 'expected a double-quoted string such as "data-*"',
            },
        ],
    }
    for malformed in ({}, {"policy_text": 5}, {"policy_text": "x", "extra": 1}):
        assert_error(client.post(url, json=malformed, headers=member.auth), 400)
    assert_error(
        client.post(
            url, content=b"{nope", headers={**member.auth, "content-type": "application/json"}
        ),
        400,
    )
    generate = f"{API}/organizations/{o}/policies:generate"
    assert_error(
        client.post(generate, json={"prompt": "read only"}, headers=owner.auth),
        503,
        "NOT_CONFIGURED",
    )
    assert_error(client.post(generate, json={"prompt": "read only"}, headers=member.auth), 403)
    assert_error(client.post(generate, json={"prompt": "x" * 4001}, headers=owner.auth), 400)


# -- roles and agents -----------------------------------------------------------------------

ROLE_FIELDS = {
    "id",
    "organization_id",
    "name",
    "description",
    "created_by_type",
    "created_by",
    "created_by_name",
    "created_at",
    "last_used_at",
}


def test_roles_and_their_keys(client: TestClient[Any], container: Container) -> None:
    owner, member = person(container), person(container)
    org = create_org(client, owner)
    o = org["name"]
    add_member(client, owner, o, member)
    role = create_role(client, owner, o, "deployer")
    assert set(role) == ROLE_FIELDS
    assert (role["created_by_type"], role["created_by"], role["created_by_name"]) == (
        "user",
        owner.id,
        owner.username,
    )
    assert role["last_used_at"] is None and role["organization_id"] == org["id"]
    base = f"{API}/organizations/{o}/roles"
    assert_error(client.post(base, json={"name": "deployer"}, headers=owner.auth), 409)
    assert_error(client.post(base, json={"name": "Bad Name"}, headers=owner.auth), 400)
    assert_error(client.post(base, json={"name": "ci"}, headers=member.auth), 403)
    assert [r["name"] for r in client.get(base, headers=member.auth).json()["results"]] == [
        "deployer"
    ]
    assert client.get(f"{base}/deployer", headers=member.auth).json() == role
    assert_error(client.get(f"{base}/nope", headers=owner.auth), 404)

    policy = create_policy(client, owner, o, "GetOrganization()\nListGroups()")
    attach(client, owner, o, policy["id"], "role", role["id"])
    key = create_principal_key(client, owner, o, "roles", "deployer")
    assert key["token"].startswith("trk-") and set(key) == {"token", "id", "name", "description"}
    other = create_principal_key(client, owner, o, "roles", "deployer")
    keys = client.get(f"{base}/deployer/auth/keys", headers=owner.auth).json()["results"]
    assert {k["id"] for k in keys} == {key["id"], other["id"]}
    got = client.get(f"{base}/deployer/auth/keys/{key['id']}", headers=owner.auth).json()
    assert (
        got["id"] == key["id"]
        and got["token_hint"] == key["token"][-4:]
        and got["revoked_at"] is None
    )
    assert_error(client.get(f"{base}/deployer/auth/keys/{name()}", headers=owner.auth), 404)

    as_role = bearer(key["token"])
    assert client.get(f"{API}/organizations/{o}", headers=as_role).status_code == 200
    assert client.get(f"{API}/organizations/{o}/groups", headers=as_role).status_code == 200
    assert_error(client.get(f"{API}/organizations/{o}/members", headers=as_role), 403, "FORBIDDEN")
    listed = client.get(f"{API}/organizations", headers=as_role).json()["results"]
    assert [x["name"] for x in listed] == [o]
    assert_error(client.get(f"{API}/auth/me", headers=as_role), 403)
    # Key use is recorded best-effort and projected asynchronously.
    assert eventually(
        lambda: client.get(f"{base}/deployer", headers=owner.auth).json()["last_used_at"]
    )

    assert (
        client.delete(f"{base}/deployer/auth/keys/{key['id']}", headers=owner.auth).status_code
        == 204
    )
    assert_error(client.get(f"{API}/organizations/{o}", headers=as_role), 401)
    revoked = client.get(f"{base}/deployer/auth/keys/{key['id']}", headers=owner.auth).json()
    assert revoked["revoked_at"] is not None
    assert client.get(f"{API}/organizations/{o}", headers=bearer(other["token"])).status_code == 200
    assert client.delete(f"{base}/deployer", headers=owner.auth).status_code == 204
    assert_error(client.get(f"{API}/organizations/{o}", headers=bearer(other["token"])), 401)
    assert_error(client.get(f"{base}/deployer", headers=owner.auth), 404)
    # The name can be taken again; the old keys stay dead.
    create_role(client, owner, o, "deployer")
    assert_error(client.get(f"{API}/organizations/{o}", headers=bearer(other["token"])), 401)


def test_deleting_a_role_or_an_agent_drops_its_attachments_and_group_memberships(
    client: TestClient[Any], container: Container
) -> None:
    owner, member = person(container), person(container)
    o = create_org(client, owner)["name"]
    add_member(client, owner, o, member)
    group = create_group(client, owner, o)
    policy = create_policy(client, owner, o, "ListRoles()")
    role, agent = create_role(client, owner, o), create_agent(client, member, o)
    for kind, ident in (("role", role["id"]), ("agent", agent["id"])):
        attach(client, owner, o, policy["id"], kind, ident)
        add_to_group(client, owner, o, group["id"], kind, ident)
    assert (
        client.delete(
            f"{API}/organizations/{o}/roles/{role['name']}", headers=owner.auth
        ).status_code
        == 204
    )
    assert (
        client.delete(
            f"{API}/organizations/{o}/agents/{agent['name']}", headers=member.auth
        ).status_code
        == 204
    )
    records = client.get(f"{API}/organizations/{o}/attachments", headers=owner.auth).json()[
        "results"
    ]
    assert [a for a in records if a["principal_type"] in ("role", "agent")] == []
    assert group_view(client, owner, o, group["id"])["members"] == []
    summary = client.get(f"{API}/organizations/{o}/policies", headers=owner.auth).json()["results"]
    assert next(p for p in summary if p["id"] == policy["id"])["attachment_count"] == 0


def test_agents_their_keys_and_their_limits(client: TestClient[Any], container: Container) -> None:
    owner, member = person(container), person(container)
    org = create_org(client, owner)
    o = org["name"]
    add_member(client, owner, o, member)
    base = f"{API}/organizations/{o}/agents"
    response = client.post(
        base,
        json={
            "name": "reporter",
            "description": "writes reports",
            "metadata": {"team": "data"},
            "inline_policy": "ListMembers()\nGetOrganization()\n",
        },
        headers=member.auth,
    )
    assert response.status_code == 201, response.text
    agent = response.json()
    assert set(agent) == ROLE_FIELDS | {"metadata", "inline_policy", "inline_policy_updated_at"}
    assert agent["metadata"] == {"team": "data"} and agent["inline_policy_updated_at"] is not None
    assert (agent["created_by_type"], agent["created_by"]) == ("user", member.id)
    assert_error(
        client.post(base, json={"name": "bad", "inline_policy": "Nope()"}, headers=member.auth), 400
    )
    assert_error(client.post(base, json={"name": "reporter"}, headers=owner.auth), 409)
    assert_error(
        client.post(base, json={"name": "x", "metadata": {"a": 1}}, headers=owner.auth), 400
    )
    assert [a["name"] for a in client.get(base, headers=owner.auth).json()["results"]] == [
        "reporter"
    ]
    assert client.get(f"{base}/reporter", headers=owner.auth).json() == agent

    key = create_principal_key(client, member, o, "agents", "reporter")
    assert key["token"].startswith("tak-")
    as_agent = bearer(key["token"])
    assert {
        m["username"]
        for m in client.get(f"{API}/organizations/{o}/members", headers=as_agent).json()["results"]
    } == {owner.username, member.username}
    assert_error(client.get(f"{API}/organizations/{o}/groups", headers=as_agent), 403)
    # Agents cannot create, update or delete agents, whatever their policies say.
    attach(client, owner, o, builtin_policy(client, owner, o, "Owner")["id"], "user", member.id)
    updated = client.put(f"{base}/reporter", json={"inline_policy": "*()"}, headers=member.auth)
    assert updated.status_code == 200 and updated.json()["inline_policy"] == "*()"
    assert updated.json()["metadata"] == {"team": "data"}
    assert client.get(f"{API}/organizations/{o}/groups", headers=as_agent).status_code == 200
    assert_error(client.post(base, json={"name": "spawn"}, headers=as_agent), 403, "FORBIDDEN")
    assert_error(client.put(f"{base}/reporter", json={"description": "x"}, headers=as_agent), 403)
    assert_error(client.delete(f"{base}/reporter", headers=as_agent), 403)
    helper = create_agent(client, owner, o)
    assert_error(client.delete(f"{base}/{helper['name']}", headers=as_agent), 403)

    # An empty inline policy clears it: the agent can do nothing.
    cleared = client.put(f"{base}/reporter", json={"inline_policy": ""}, headers=member.auth)
    assert cleared.json()["inline_policy"] == ""
    assert_error(client.get(f"{API}/organizations/{o}", headers=as_agent), 403)
    keys = client.get(f"{base}/reporter/auth/keys", headers=member.auth).json()["results"]
    assert [k["id"] for k in keys] == [key["id"]]
    assert (
        client.get(f"{base}/reporter/auth/keys/{key['id']}", headers=member.auth).json()[
            "token_hint"
        ]
        == key["token"][-4:]
    )
    spare = create_principal_key(client, member, o, "agents", "reporter")
    assert (
        client.delete(f"{base}/reporter/auth/keys/{spare['id']}", headers=member.auth).status_code
        == 204
    )
    assert_error(client.get(f"{API}/organizations/{o}", headers=bearer(spare["token"])), 401)
    assert client.delete(f"{base}/reporter", headers=member.auth).status_code == 204
    assert_error(client.get(f"{API}/organizations/{o}", headers=as_agent), 401)
    assert_error(client.get(f"{base}/reporter", headers=owner.auth), 404)
