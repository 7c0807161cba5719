"""Repository and agent secrets over raw HTTP on SQLite and PostgreSQL: the 8 operations,
their errors and headers, soft delete and re-create, permissions (manage vs read, the
AgentManager policy), deletion of the owning repository or agent, and projection rebuild."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from infra.bootstrap import Container
from tests.catalog_helpers import Repo, new_repo
from tests.orgs import (
    API,
    add_member,
    assert_error,
    attach,
    create_agent,
    create_policy,
    person,
)

FIELDS = {"key", "created_by_type", "created_by", "created_at", "updated_at"}


@pytest.fixture
def repo(client: TestClient[Any], container: Container) -> Repo:
    return new_repo(container, client)


def put(http: Any, base: str, key: str, value: Any, auth: dict[str, str]) -> Any:
    return http.put(f"{base}/secrets/{key}", json={"value": value}, headers=auth)


def keys(http: Any, base: str, auth: dict[str, str]) -> list[str]:
    response = http.get(f"{base}/secrets", headers=auth)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"results"}
    return [r["key"] for r in response.json()["results"]]


def test_repository_secrets_put_list_get_delete_recreate(repo: Repo, container: Container) -> None:
    http, base, auth = repo.http, repo.base, repo.auth
    created = put(http, base, "API_KEY", "v1", auth)
    assert created.status_code == 200 and created.json() == {"key": "API_KEY"}
    assert put(http, base, "DB_HOST", "db", auth).status_code == 200
    listing = http.get(f"{base}/secrets", headers=auth).json()["results"]
    assert [r["key"] for r in listing] == ["API_KEY", "DB_HOST"]
    first = listing[0]
    assert set(first) == FIELDS and "value" not in str(listing)
    assert (first["created_by_type"], first["created_by"]) == ("user", repo.owner.id)
    got = http.get(f"{base}/secrets/API_KEY", headers=auth)
    assert got.status_code == 200 and got.json() == {"key": "API_KEY", "value": "v1"}
    assert got.headers["cache-control"] == "no-store"
    # An update by someone else keeps the creator and moves updated_at.
    other = person(container)
    add_member(http, repo.owner, repo.org, other)
    admin = create_policy(http, repo.owner, repo.org, "ManageRepositorySecrets()\n")
    attach(http, repo.owner, repo.org, admin["id"], "user", other.id)
    assert put(http, base, "API_KEY", "v2", other.auth).status_code == 200
    after = http.get(f"{base}/secrets", headers=auth).json()["results"][0]
    assert after["created_by"] == repo.owner.id and after["created_at"] == first["created_at"]
    assert after["updated_at"] > first["updated_at"]
    assert http.get(f"{base}/secrets/API_KEY", headers=auth).json()["value"] == "v2"
    # Soft delete: gone from listings and reads; a second delete is a 404; re-create works.
    assert http.delete(f"{base}/secrets/API_KEY", headers=auth).status_code == 204
    assert keys(http, base, auth) == ["DB_HOST"]
    assert_error(http.get(f"{base}/secrets/API_KEY", headers=auth), 404, "NOT_FOUND")
    assert_error(http.delete(f"{base}/secrets/API_KEY", headers=auth), 404, "NOT_FOUND")
    assert put(http, base, "API_KEY", "v3", other.auth).status_code == 200
    again = http.get(f"{base}/secrets", headers=auth).json()["results"][0]
    assert again["created_by"] == other.id and again["created_at"] > first["created_at"]
    assert http.get(f"{base}/secrets/API_KEY", headers=auth).json()["value"] == "v3"


def test_bad_keys_values_and_bodies_are_400s_in_the_error_body(repo: Repo) -> None:
    http, base, auth = repo.http, repo.base, repo.auth
    for key in ("9LIVES", "has.dot", "-x", "a" * 257):
        assert_error(put(http, base, key, "v", auth), 400, "BAD_REQUEST")
        assert_error(http.get(f"{base}/secrets/{key}", headers=auth), 400, "BAD_REQUEST")
        assert_error(http.delete(f"{base}/secrets/{key}", headers=auth), 400, "BAD_REQUEST")
    assert put(http, base, "_" + "a" * 255, "v", auth).status_code == 200
    for value in ("", None, 12, ["x"]):
        assert_error(put(http, base, "K", value, auth), 400, "BAD_REQUEST")
    assert_error(http.put(f"{base}/secrets/K", json={}, headers=auth), 400)
    assert_error(
        http.put(f"{base}/secrets/K", content=b"{not json", headers=auth), 400, "BAD_REQUEST"
    )
    limit = 64 * 1024
    assert put(http, base, "BIG", "x" * limit, auth).status_code == 200
    assert len(http.get(f"{base}/secrets/BIG", headers=auth).json()["value"]) == limit
    too_big = assert_error(put(http, base, "BIG", "y" * (limit + 1), auth), 400, "BAD_REQUEST")
    assert "yyyy" not in too_big["message"]
    # 64 KiB counts UTF-8 bytes, and escapes inside the JSON body do not count against it.
    assert put(http, base, "WIDE", "é" * (limit // 2), auth).status_code == 200
    assert_error(put(http, base, "WIDE", "é" * (limit // 2 + 1), auth), 400, "BAD_REQUEST")
    assert put(http, base, "LINES", "\n" * limit, auth).status_code == 200
    huge = http.put(f"{base}/secrets/K", content=b" " * (1024 * 1024), headers=auth)
    assert_error(huge, 413)
    assert keys(http, base, auth) == ["BIG", "LINES", "WIDE", "_" + "a" * 255]


def test_unknown_repository_or_secret_is_404(repo: Repo) -> None:
    http, auth = repo.http, repo.auth
    gone = f"{API}/organizations/{repo.org}/repositories/no-such-repo"
    assert_error(http.get(f"{gone}/secrets", headers=auth), 404, "NOT_FOUND")
    assert_error(put(http, gone, "K", "v", auth), 404, "NOT_FOUND")
    assert_error(http.get(f"{repo.base}/secrets/NOPE", headers=auth), 404, "NOT_FOUND")
    assert_error(http.delete(f"{repo.base}/secrets/NOPE", headers=auth), 404, "NOT_FOUND")


def test_manage_without_read_cannot_see_values(repo: Repo, container: Container) -> None:
    http, base = repo.http, repo.base
    assert put(http, base, "TOKEN", "t0p", repo.auth).status_code == 200
    manager = person(container)
    add_member(http, repo.owner, repo.org, manager)
    policy = create_policy(http, repo.owner, repo.org, "ManageRepositorySecrets()\n")
    attach(http, repo.owner, repo.org, policy["id"], "user", manager.id)
    assert keys(http, base, manager.auth) == ["TOKEN"]
    assert put(http, base, "OTHER", "x", manager.auth).status_code == 200
    denied = assert_error(http.get(f"{base}/secrets/TOKEN", headers=manager.auth), 403)
    assert "ReadRepositorySecrets" in denied["message"] and "t0p" not in denied["message"]
    # A plain member (the Member policy) may neither list nor read.
    member = person(container)
    add_member(http, repo.owner, repo.org, member)
    assert_error(http.get(f"{base}/secrets", headers=member.auth), 403, "FORBIDDEN")
    assert_error(http.get(f"{base}/secrets/TOKEN", headers=member.auth), 403, "FORBIDDEN")
    assert_error(put(http, base, "X", "v", member.auth), 403, "FORBIDDEN")
    # An outsider learns nothing about the organization.
    outsider = person(container)
    assert_error(http.get(f"{base}/secrets", headers=outsider.auth), 404)


def test_a_deleted_repository_takes_its_secrets_with_it(repo: Repo) -> None:
    http, base, auth = repo.http, repo.base, repo.auth
    assert put(http, base, "K", "old", auth).status_code == 200
    assert http.delete(base, headers=auth).status_code == 204
    assert_error(http.get(f"{base}/secrets/K", headers=auth), 404)
    assert_error(http.get(f"{base}/secrets", headers=auth), 404)
    assert_error(put(http, base, "K", "new", auth), 404)


def agent_base(org: str, agent: str) -> str:
    return f"{API}/organizations/{org}/agents/{agent}"


def test_agent_secrets_and_the_agent_manager_policy(repo: Repo, container: Container) -> None:
    http, org = repo.http, repo.org
    creator = person(container)
    add_member(http, repo.owner, org, creator)  # Member + AgentManager
    agent = create_agent(http, creator, org)
    base = agent_base(org, agent["name"])
    assert put(http, base, "OPENAI_KEY", "sk-abc", creator.auth).json() == {"key": "OPENAI_KEY"}
    got = http.get(f"{base}/secrets/OPENAI_KEY", headers=creator.auth)
    assert got.json() == {"key": "OPENAI_KEY", "value": "sk-abc"}
    assert got.headers["cache-control"] == "no-store" and got.headers["pragma"] == "no-cache"
    listing = http.get(f"{base}/secrets", headers=creator.auth).json()["results"]
    assert [r["key"] for r in listing] == ["OPENAI_KEY"] and set(listing[0]) == FIELDS
    # Another member owns no part of this agent: AgentManager does not reach it.
    other = person(container)
    add_member(http, repo.owner, org, other)
    assert_error(http.get(f"{base}/secrets", headers=other.auth), 403, "FORBIDDEN")
    assert_error(http.get(f"{base}/secrets/OPENAI_KEY", headers=other.auth), 403)
    assert_error(put(http, base, "X", "v", other.auth), 403)
    # The owner (the Owner policy) may; the creator deletes; re-create works.
    assert keys(http, base, repo.owner.auth) == ["OPENAI_KEY"]
    assert http.delete(f"{base}/secrets/OPENAI_KEY", headers=creator.auth).status_code == 204
    assert keys(http, base, creator.auth) == []
    assert_error(http.get(f"{base}/secrets/OPENAI_KEY", headers=creator.auth), 404)
    assert put(http, base, "OPENAI_KEY", "sk-new", creator.auth).status_code == 200
    value = http.get(f"{base}/secrets/OPENAI_KEY", headers=creator.auth).json()["value"]
    assert value == "sk-new"
    # Unknown agents are 404; a deleted agent's secrets are unreadable.
    missing = agent_base(org, "no-agent")
    assert_error(http.get(f"{missing}/secrets", headers=repo.owner.auth), 404, "NOT_FOUND")
    assert http.delete(base, headers=creator.auth).status_code == 204
    assert_error(http.get(f"{base}/secrets/OPENAI_KEY", headers=repo.owner.auth), 404)
    create_agent(http, creator, org, agent["name"])
    assert keys(http, base, creator.auth) == []


def test_an_agent_reading_its_own_secrets_needs_the_action(
    repo: Repo, container: Container
) -> None:
    http, org = repo.http, repo.org
    agent = create_agent(http, repo.owner, org, inline_policy="ListAgents()\n")
    base = agent_base(org, agent["name"])
    assert put(http, base, "K", "v", repo.owner.auth).status_code == 200
    key = http.post(f"{base}/auth/keys", json={"name": "k"}, headers=repo.owner.auth).json()[
        "token"
    ]
    as_agent = {"Authorization": f"Bearer {key}"}
    assert_error(http.get(f"{base}/secrets/K", headers=as_agent), 403, "FORBIDDEN")
    updated = http.put(
        base, json={"inline_policy": "ReadAgentSecrets()\n"}, headers=repo.owner.auth
    )
    assert updated.status_code == 200, updated.text
    got = http.get(f"{base}/secrets/K", headers=as_agent)
    assert got.status_code == 200 and got.json()["value"] == "v"


def test_rebuild_reproduces_the_metadata_view(repo: Repo, container: Container) -> None:
    http, base, auth = repo.http, repo.base, repo.auth
    for i in range(5):
        assert put(http, base, f"K{i}", f"v{i}", auth).status_code == 200
    assert put(http, base, "K1", "again", auth).status_code == 200
    assert http.delete(f"{base}/secrets/K2", headers=auth).status_code == 204
    assert put(http, base, "K2", "back", auth).status_code == 200
    assert http.delete(f"{base}/secrets/K3", headers=auth).status_code == 204
    query = "SELECT * FROM secrets ORDER BY id"
    incremental = container.db.query(query)
    assert len(incremental) == 5
    container.projections.rebuild(["secrets"])
    assert container.db.query(query) == incremental
