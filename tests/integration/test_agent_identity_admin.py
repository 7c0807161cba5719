"""Agents never administer identities (issue #8, finding 5), on SQLite and PostgreSQL.

An agent with inline `*()` created by an owner walks every identity-administration route: each
would mint a credential or grant power that no longer depends on the agent's creator, so each
answers 403 and changes nothing. The same calls made by the owner succeed (the walk is real).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.testing import TestClient

from application.organizations.app import AGENT_FORBIDDEN_ACTIONS
from infra.bootstrap import Container
from tests.builders import name
from tests.conftest import bearer
from tests.orgs import (
    API,
    Person,
    assert_error,
    attach,
    create_agent,
    create_group,
    create_org,
    create_policy,
    create_principal_key,
    create_role,
    person,
)

Walk = Callable[[dict[str, str]], Any]


def _routes(client: TestClient[Any], o: str, owner: Person, stranger: Person) -> dict[str, Walk]:
    """Action name → a call of its route with the given headers (fresh targets per call)."""
    org = f"{API}/organizations/{o}"
    other, doomed = create_agent(client, owner, o), create_agent(client, owner, o)
    role = create_role(client, owner, o)
    group = create_group(client, owner, o)
    policy = create_policy(client, owner, o, "ListRoles()")
    spare = create_policy(client, owner, o, "ListRoles()")
    attached = create_policy(client, owner, o, "ListRoles()")
    attach(client, owner, o, attached["id"], "role", role["id"])
    member_group = create_group(client, owner, o)
    added = client.post(
        f"{org}/groups/{member_group['id']}/members",
        json={"subject_type": "role", "subject_id": role["id"]},
        headers=owner.auth,
    )
    assert added.status_code == 201, added.text
    subject = {"principal_type": "role", "principal_id": role["id"]}
    return {
        "CreateAgent": lambda h: client.post(f"{org}/agents", json={"name": name("a-")}, headers=h),
        "UpdateAgent": lambda h: client.put(
            f"{org}/agents/{other['name']}", json={"description": "x"}, headers=h
        ),
        "DeleteAgent": lambda h: client.delete(f"{org}/agents/{doomed['name']}", headers=h),
        "CreateRole": lambda h: client.post(f"{org}/roles", json={"name": name("r-")}, headers=h),
        "CreateRoleAPIKey": lambda h: client.post(
            f"{org}/roles/{role['name']}/auth/keys", json={"name": "k"}, headers=h
        ),
        "CreateAgentAPIKey": lambda h: client.post(
            f"{org}/agents/{other['name']}/auth/keys", json={"name": "k"}, headers=h
        ),
        "CreateInvitation": lambda h: client.post(
            f"{org}/invitations", json={"email": f"{name('inv')}@example.com"}, headers=h
        ),
        "AddMember": lambda h: client.post(
            f"{org}/members", json={"username": stranger.username}, headers=h
        ),
        "CreatePolicy": lambda h: client.post(
            f"{org}/policies", json={"name": name("p-"), "policy_text": "*()"}, headers=h
        ),
        "UpdatePolicy": lambda h: client.put(
            f"{org}/policies/{policy['id']}", json={"policy_text": "*()"}, headers=h
        ),
        "DeletePolicy": lambda h: client.delete(f"{org}/policies/{spare['id']}", headers=h),
        "AttachPolicy": lambda h: client.post(
            f"{org}/policies/{policy['id']}/attachments", json=subject, headers=h
        ),
        "DetachPolicy": lambda h: client.delete(
            f"{org}/policies/{attached['id']}/attachments", params=subject, headers=h
        ),
        "AddGroupMember": lambda h: client.post(
            f"{org}/groups/{group['id']}/members",
            json={"subject_type": "role", "subject_id": role["id"]},
            headers=h,
        ),
        "RemoveGroupMember": lambda h: client.delete(
            f"{org}/groups/{member_group['id']}/members",
            params={"subject_type": "role", "subject_id": role["id"]},
            headers=h,
        ),
    }


def test_an_agent_with_every_permission_cannot_administer_identities(
    client: TestClient[Any], container: Container
) -> None:
    owner, stranger = person(container), person(container)
    o = create_org(client, owner)["name"]
    agent = create_agent(client, owner, o, inline_policy="*()")
    as_agent = bearer(create_principal_key(client, owner, o, "agents", agent["name"])["token"])
    # The agent does hold its creator's power elsewhere: `*()` is not a dead letter.
    assert client.get(f"{API}/organizations/{o}/groups", headers=as_agent).status_code == 200

    routes = _routes(client, o, owner, stranger)
    assert set(routes) == set(AGENT_FORBIDDEN_ACTIONS)
    for action, call in routes.items():
        body = assert_error(call(as_agent), 403, "FORBIDDEN")
        assert "identity administration is for users and roles" in body["message"], action
    # Nothing happened: the owner's same calls still find everything as it was, and succeed.
    for action, call in routes.items():
        response = call(owner.auth)
        assert response.status_code in (200, 201, 204), (action, response.text)


def test_an_agent_may_still_issue_and_use_keys_for_itself(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    o = create_org(client, owner)["name"]
    agent = create_agent(client, owner, o, inline_policy="*()")
    as_agent = bearer(create_principal_key(client, owner, o, "agents", agent["name"])["token"])
    own = client.post(
        f"{API}/organizations/{o}/agents/{agent['name']}/auth/keys",
        json={"name": "rotated"},
        headers=as_agent,
    )
    assert own.status_code == 201, own.text
    rotated = bearer(own.json()["token"])
    assert client.get(f"{API}/organizations/{o}/roles", headers=rotated).status_code == 200
