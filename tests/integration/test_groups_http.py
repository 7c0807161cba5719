"""Organizations over HTTP, on SQLite and PostgreSQL: groups, their members and nesting."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from infra.bootstrap import Container
from tests.organizations_http_helpers import group_view
from tests.orgs import (
    API,
    add_member,
    add_to_group,
    assert_error,
    attach,
    create_agent,
    create_group,
    create_org,
    create_policy,
    create_role,
    person,
)

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
