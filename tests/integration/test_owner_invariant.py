"""An organization always keeps a member user who holds Owner (directly or via groups)."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from infra.bootstrap import Container
from tests.orgs import API, add_member, assert_error, attach, builtin_policy, create_org, person


def test_an_owner_reached_through_a_group_counts_and_cannot_be_lost(
    client: TestClient[Any], container: Container
) -> None:
    owner, member = person(container), person(container)
    org = create_org(client, owner)["name"]
    add_member(client, owner, org, member)
    owner_policy = builtin_policy(client, owner, org, "Owner")
    admins = client.post(
        f"{API}/organizations/{org}/groups", json={"name": "admins"}, headers=owner.auth
    ).json()
    members_url = f"{API}/organizations/{org}/groups/{admins['id']}/members"
    body = {"subject_type": "user", "subject_id": member.id}
    assert client.post(members_url, json=body, headers=owner.auth).status_code == 201
    attach(client, owner, org, owner_policy["id"], "group", admins["id"])
    # The member owns through the group: the first owner may now leave.
    remove_owner = f"{API}/organizations/{org}/members/{owner.id}"
    assert client.delete(remove_owner, headers=member.auth).status_code == 204
    # Emptying or deleting the group, or detaching Owner from it, would orphan the org.
    assert_error(client.delete(members_url, params=body, headers=member.auth), 409)
    assert_error(
        client.delete(f"{API}/organizations/{org}/groups/{admins['id']}", headers=member.auth),
        409,
    )
    detach = f"{API}/organizations/{org}/policies/{owner_policy['id']}/attachments"
    group = {"principal_type": "group", "principal_id": admins["id"]}
    assert_error(client.delete(detach, params=group, headers=member.auth), 409)
    assert_error(
        client.delete(f"{API}/organizations/{org}/members/{member.id}", headers=member.auth), 409
    )
