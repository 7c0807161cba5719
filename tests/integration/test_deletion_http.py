"""One DELETE must not wipe an organization: path parameters take names (an id in place of a
name reaches nothing), an organization with repositories is not deleted (409 naming them),
and deleted organizations and repositories come back whole when the operator restores them.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from litestar.testing import TestClient

from application.trash import Trash
from domain.shared.errors import NotFound
from domain.shared.values import Actor
from infra.bootstrap import Container
from tests.catalog_helpers import Repo, create_repository
from tests.organizations_http_helpers import members_of
from tests.orgs import API, add_member, assert_error, create_org, person


def test_an_organization_id_in_place_of_its_name_reaches_nothing(
    client: TestClient[Any], container: Container, repo: Repo
) -> None:
    """The fuzz run's reproducer: the owner's key, the organization's UUID as `{organization}`."""
    first = repo.write({"a.txt": b"seeded"}, "seed")
    org_id = client.get(f"{API}/organizations/{repo.org}", headers=repo.auth).json()["id"]
    for ident in (org_id, UUID(org_id).hex, org_id.upper()):
        for _ in range(2):  # the second request takes the guard's in-memory path
            org_url = f"{API}/organizations/{ident}"
            assert_error(client.delete(org_url, headers=repo.auth), 404, "NOT_FOUND")
            assert_error(client.get(org_url, headers=repo.auth), 404, "NOT_FOUND")
            assert_error(client.get(f"{org_url}/repositories", headers=repo.auth), 404)
            assert_error(client.get(f"{org_url}/members", headers=repo.auth), 404)
            gone = client.delete(f"{org_url}/repositories/{repo.name}", headers=repo.auth)
            assert_error(gone, 404, "NOT_FOUND")
    # Nothing was touched.
    assert client.get(f"{API}/organizations/{repo.org}", headers=repo.auth).status_code == 200
    assert repo.read("a.txt") == b"seeded"
    assert [c["id"] for c in repo.log()["results"]] == [first]


def test_an_organization_cannot_be_named_like_an_id(
    client: TestClient[Any], container: Container
) -> None:
    """Otherwise a name could shadow another organization's id wherever ids are looked up."""
    owner = person(container)
    victim = create_org(client, owner)
    for bad in (victim["id"], UUID(victim["id"]).hex):
        body = {"name": bad, "display_name": "Shadow"}
        refused = client.post(f"{API}/organizations", json=body, headers=owner.auth)
        assert "reads as an id" in assert_error(refused, 400, "BAD_REQUEST")["message"]
        check = client.get(
            f"{API}/organizations/check-name", params={"name": bad}, headers=owner.auth
        )
        assert check.json() == {"available": False, "reason": "reserved"}


def test_deleting_an_organization_with_repositories_answers_409_naming_them(
    client: TestClient[Any], container: Container, repo: Repo
) -> None:
    repo.write({"a.txt": b"kept"}, "seed")
    create_repository(client, repo.owner, repo.org, "second")
    org_url = f"{API}/organizations/{repo.org}"
    refused = assert_error(client.delete(org_url, headers=repo.auth), 409, "CONFLICT")
    assert repo.name in refused["message"] and "second" in refused["message"]
    assert "delete them first" in refused["message"]
    assert client.get(org_url, headers=repo.auth).status_code == 200
    assert repo.read("a.txt") == b"kept"

    for name in (repo.name, "second"):
        gone = client.delete(f"{org_url}/repositories/{name}", headers=repo.auth)
        assert gone.status_code == 204, gone.text
    assert client.delete(org_url, headers=repo.auth).status_code == 204
    assert_error(client.get(org_url, headers=repo.auth), 404, "NOT_FOUND")


def test_a_restored_repository_has_its_objects_and_history_back(
    client: TestClient[Any], container: Container, repo: Repo
) -> None:
    first = repo.write({"a.txt": b"one", "b.txt": b"two"}, "first")
    second = repo.write({"a.txt": b"uno", "b.txt": None}, "second")
    before = client.get(repo.base, headers=repo.auth).json()
    assert repo.read("a.txt") == b"uno"  # the head read's one-query path knows the repository
    assert client.delete(repo.base, headers=repo.auth).status_code == 204
    assert_error(client.get(repo.base, headers=repo.auth), 404)
    gone = assert_error(repo.get("a.txt"), 404)  # not the deleted repository's object
    assert gone["message"] == f"repository '{repo.name}' not found", gone

    trash = container.service("trash", Trash)
    assert [(d.organization, d.repository) for d in trash.deleted()] == [(repo.org, repo.name)]
    restored = trash.restore_repository(repo.org, repo.name, Actor.operator())
    container.wait_for(restored.written)

    assert client.get(repo.base, headers=repo.auth).json()["id"] == before["id"]
    assert repo.read("a.txt") == b"uno"
    assert repo.read("a.txt", ref=first) == b"one"
    assert repo.read("b.txt", ref=first) == b"two"
    assert_error(repo.get("b.txt"), 404)
    assert [c["id"] for c in repo.log()["results"]] == [second, first]
    listed = client.get(f"{API}/organizations/{repo.org}/repositories", headers=repo.auth)
    assert repo.name in [r["name"] for r in listed.json()["results"]]
    third = repo.write({"c.txt": b"three"}, "after the restore")
    assert [c["id"] for c in repo.log()["results"]] == [third, second, first]
    assert trash.deleted() == []
    with pytest.raises(NotFound, match="no deleted repository"):
        trash.restore_repository(repo.org, repo.name, Actor.operator())


def test_a_restored_organization_has_its_members_and_repositories_back(
    client: TestClient[Any], container: Container
) -> None:
    owner, member = person(container), person(container)
    org = create_org(client, owner)["name"]
    add_member(client, owner, org, member)
    data = Repo(client, owner, org, create_repository(client, owner, org, "data")["name"])
    data.write({"x.txt": b"x"}, "seed")
    org_url = f"{API}/organizations/{org}"
    assert client.delete(data.base, headers=owner.auth).status_code == 204
    assert client.delete(org_url, headers=owner.auth).status_code == 204
    for who in (owner, member):
        assert_error(client.get(org_url, headers=who.auth), 404)
        listed = client.get(f"{API}/organizations", headers=who.auth).json()["results"]
        assert org not in [o["name"] for o in listed]

    trash = container.service("trash", Trash)
    assert sorted((d.organization, d.repository) for d in trash.deleted()) == [
        (org, ""),
        (org, "data"),
    ]
    with pytest.raises(NotFound, match="restore it first"):
        trash.restore_repository(org, "data", Actor.operator())
    container.wait_for(trash.restore_organization(org, Actor.operator()).written)
    assert client.get(org_url, headers=member.auth).status_code == 200
    assert members_of(client, owner, org) == {owner.username, member.username}
    repos = client.get(f"{org_url}/repositories", headers=member.auth)
    assert repos.status_code == 200 and repos.json()["results"] == []
    container.wait_for(trash.restore_repository(org, "data", Actor.operator()).written)
    assert data.read("x.txt") == b"x"
    assert trash.deleted() == []
