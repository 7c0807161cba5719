"""Repositories over raw HTTP, as COMPAT §3/§4 and the reference describe them: create,
get, update and settings, keyset-paginated lists (per organization and across them) and
deletion.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture) with the local blob
store, through the in-process TestClient."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar.testing import TestClient

from application.trash import Trash
from domain.shared.values import utcnow
from infra.bootstrap import Container
from tests.catalog_helpers import (
    Repo,
    create_repository,
)
from tests.orgs import (
    API,
    assert_error,
    create_org,
    person,
)


def test_repository_create_get_update_and_settings(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org = create_org(client, owner)["name"]
    base = f"{API}/organizations/{org}/repositories"

    plain = create_repository(client, owner, org, "plain")
    assert plain["name"] == "plain" and plain["retention_days"] == 14
    assert plain["description"] == "" and plain["agents_require_approval"] is False
    assert plain["created_by_type"] == "user" and plain["created_by"] == owner.id
    assert plain["organization_id"] and plain["id"] and plain["created_at"].endswith("Z")

    # Older clients' fields (visibility, session_max_duration_days) are accepted and returned;
    # unknown fields are accepted and ignored (tests/integration/test_repository_wire.py).
    custom = create_repository(
        client,
        owner,
        org,
        "custom",
        description="datasets",
        visibility="public",
        retention_days=30,
        session_max_duration_days=3,
        agents_require_approval=True,
        flavour="vanilla",
    )
    assert custom["visibility"] == "public" and custom["description"] == "datasets"
    assert custom["retention_days"] == 30 and custom["session_max_duration_days"] == 3
    assert custom["agents_require_approval"] is True and "flavour" not in custom

    got = client.get(f"{base}/custom", headers=owner.auth)
    assert got.status_code == 200 and got.json() == custom

    # Update answers the full repository, changed fields merged in.
    updated = client.put(
        f"{base}/custom",
        json={"description": "new words", "retention_days": 7, "agents_require_approval": False},
        headers=owner.auth,
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body == {
        **custom,
        "description": "new words",
        "retention_days": 7,
        "agents_require_approval": False,
    }
    assert client.get(f"{base}/custom", headers=owner.auth).json() == body

    assert_error(client.post(base, json={"name": "plain"}, headers=owner.auth), 409, "CONFLICT")
    assert_error(client.post(base, json={"name": "Bad Name!"}, headers=owner.auth), 400)
    assert_error(client.post(base, json={"description": "x"}, headers=owner.auth), 400)
    assert_error(
        client.post(base, json={"name": "r0", "retention_days": 0}, headers=owner.auth), 400
    )
    assert_error(
        client.put(f"{base}/custom", json={"retention_days": "ten"}, headers=owner.auth), 400
    )
    assert_error(client.get(f"{base}/missing", headers=owner.auth), 404, "NOT_FOUND")


def test_repository_lists_paginate_by_keyset_per_org_and_across_orgs(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    first = create_org(client, owner)["name"]
    second = create_org(client, owner, f"{first}-labs")["name"]  # extends the first's name
    for repo in ("r-a", "r-b", "r-c", "r-d", "r-e"):
        create_repository(client, owner, first, repo)
    create_repository(client, owner, second, "elsewhere")
    stranger = person(container)
    theirs = create_org(client, stranger)["name"]
    create_repository(client, stranger, theirs, "private-stuff")

    base = f"{API}/organizations/{first}/repositories"
    seen: list[str] = []
    params: dict[str, Any] = {"amount": 2}
    pages = 0
    while True:
        response = client.get(base, params=params, headers=owner.auth)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        assert len(body["results"]) <= 2
        for r in body["results"]:
            assert r["organization_slug"] == first
            seen.append(r["name"])
        if not body["pagination"]["has_more"]:
            break
        assert body["pagination"]["next_offset"], body["pagination"]
        params["after"] = body["pagination"]["next_offset"]
    assert seen == ["r-a", "r-b", "r-c", "r-d", "r-e"] and pages == 3
    # A bare repository name works as the cursor too (what the reference's examples show).
    after_b = client.get(base, params={"after": "r-b", "amount": 100}, headers=owner.auth).json()
    assert [r["name"] for r in after_b["results"]] == ["r-c", "r-d", "r-e"]
    assert after_b["pagination"]["has_more"] is False

    everywhere = client.get(f"{API}/repositories", params={"amount": 1000}, headers=owner.auth)
    assert everywhere.status_code == 200, everywhere.text
    pairs = {(r["organization_slug"], r["name"]) for r in everywhere.json()["results"]}
    assert pairs == {(first, n) for n in ("r-a", "r-b", "r-c", "r-d", "r-e")} | {
        (second, "elsewhere")
    }
    assert all(r["organization_display_name"] for r in everywhere.json()["results"])
    # The stranger sees only their own repository.
    theirs_only = client.get(f"{API}/repositories", headers=stranger.auth).json()
    assert [r["name"] for r in theirs_only["results"]] == ["private-stuff"]
    # Paginated across organizations too, one repository per page: nothing skipped.
    walked: list[tuple[str, str]] = []
    params = {"amount": 1}
    while True:
        page = client.get(f"{API}/repositories", params=params, headers=owner.auth).json()
        walked += [(r["organization_slug"], r["name"]) for r in page["results"]]
        if not page["pagination"]["has_more"]:
            break
        assert page["pagination"]["next_offset"]
        params["after"] = page["pagination"]["next_offset"]
    assert walked == sorted(pairs)


def test_a_deleted_repository_is_gone_and_its_name_reserved_until_purged(
    client: TestClient[Any], container: Container, repo: Repo
) -> None:
    repo.write({"kept.txt": b"old data"}, "before delete")
    old = client.get(f"{API}/organizations/{repo.org}/repositories/{repo.name}", headers=repo.auth)
    gone = client.delete(
        f"{API}/organizations/{repo.org}/repositories/{repo.name}", headers=repo.auth
    )
    assert gone.status_code == 204, gone.text
    assert_error(client.get(repo.base, headers=repo.auth), 404, "NOT_FOUND")
    assert_error(repo.get("kept.txt"), 404)
    assert_error(client.post(f"{repo.base}/sessions", headers=repo.auth), 404)
    listed = client.get(f"{API}/organizations/{repo.org}/repositories", headers=repo.auth)
    assert repo.name not in [r["name"] for r in listed.json()["results"]]
    assert_error(client.delete(repo.base, headers=repo.auth), 404)
    # Restorable by the operator for the retention window: the name stays reserved.
    body = {"name": repo.name}
    reused = assert_error(
        client.post(f"{API}/organizations/{repo.org}/repositories", json=body, headers=repo.auth),
        409,
    )
    assert "reserved until" in reused["message"] and "restore" in reused["message"]
    # Garbage collection after the window purges it and frees the name.
    report = container.service("trash", Trash).collect(utcnow() + timedelta(days=8))
    assert report.repositories_purged == 1

    reborn = create_repository(client, repo.owner, repo.org, repo.name)
    assert reborn["id"] != old.json()["id"]
    # A fresh history: nothing of the old repository shows through.
    assert repo.log()["results"] == []
    assert_error(repo.get("kept.txt"), 404)
