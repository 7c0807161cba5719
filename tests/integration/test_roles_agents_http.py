"""Organizations over HTTP, on SQLite and PostgreSQL: roles, agents and their keys."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from litestar.testing import TestClient

from infra.bootstrap import Container
from tests.builders import name
from tests.conftest import bearer
from tests.organizations_http_helpers import group_view
from tests.orgs import (
    API,
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
    person,
)


def eventually(probe: Callable[[], Any], timeout: float = 10.0) -> Any:
    """The first truthy answer of `probe`, polling until `timeout`."""
    deadline = time.monotonic() + timeout
    while not (answer := probe()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return answer


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

    # An empty inline policy clears it: the agent can do nothing but read the organization's
    # record, which every principal of the organization may (docs/policies.md, rule 6).
    cleared = client.put(f"{base}/reporter", json={"inline_policy": ""}, headers=member.auth)
    assert cleared.json()["inline_policy"] == ""
    assert_error(client.get(f"{API}/organizations/{o}/members", headers=as_agent), 403)
    assert client.get(f"{API}/organizations/{o}", headers=as_agent).status_code == 200
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
