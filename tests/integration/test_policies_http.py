"""Organizations over HTTP, on SQLite and PostgreSQL: policies, attachments, effective
policies, validation and generation."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from infra.bootstrap import Container
from tests.organizations_http_helpers import effective
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
        assert response.content == b""  # the spec's 201 has no body
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
        (a["principal_type"], a["principal_id"], a["principal_name"], a["attached_by"])
        for a in records
        if a["policy_id"] == policy["id"]
    )
    assert mine == sorted(
        [
            ("user", member.id, member.username, owner.id),
            ("group", group["id"], "crew", owner.id),
            ("role", role["id"], role["name"], owner.id),
            ("agent", agent["id"], agent["name"], owner.id),
        ]
    )
    assert {a["attached_by_type"] for a in records if a["policy_id"] == policy["id"]} == {"user"}
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
