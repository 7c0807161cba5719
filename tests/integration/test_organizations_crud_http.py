"""Organizations over HTTP, on SQLite and PostgreSQL: organizations and their members."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from domain.shared.values import parse_iso
from infra.bootstrap import Container
from tests.builders import name, signup_body
from tests.organizations_http_helpers import effective, group_view, members_of
from tests.orgs import (
    API,
    add_member,
    add_to_group,
    assert_error,
    attach,
    builtin_policy,
    create_group,
    create_org,
    create_policy,
    org_not_found,
    person,
)

ORG_FIELDS = {"id", "name", "display_name", "status", "notes", "created_at"}


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
    # The name stays reserved while the operator may still restore the organization.
    again = client.get(f"{API}/organizations/check-name", params={"name": org}, headers=owner.auth)
    assert again.json() == {"available": False, "reason": "taken"}
    body = {"name": org, "display_name": "Squatter"}
    reused = assert_error(
        client.post(f"{API}/organizations", json=body, headers=outsider.auth), 409
    )
    assert "reserved until" in reused["message"] and "restore" in reused["message"]


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
