"""Repository responses are exactly the spec's `Repository` (plus the documented
`session_max_duration_days` and `agents_require_approval`): no internal `cursor` in list items,
no echo of fields a client happened to send."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from infra.bootstrap import Container
from tests.catalog_helpers import create_repository
from tests.orgs import API, create_org, person

REPOSITORY = {
    "id",
    "organization_id",
    "name",
    "description",
    "visibility",
    "retention_days",
    "session_max_duration_days",
    "agents_require_approval",
    "created_by_type",
    "created_by",
    "created_at",
}
# The CLI prints `organization_slug/name` for both list endpoints (COMPAT §5).
LISTED = REPOSITORY | {"organization_slug", "organization_display_name"}


def test_repository_responses_carry_no_unknown_fields_and_no_cursor(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org = create_org(client, owner)["name"]
    base = f"{API}/organizations/{org}/repositories"

    created = create_repository(
        client, owner, org, "wire", description="d", flavour="vanilla", cursor="x/y"
    )
    assert set(created) == REPOSITORY, created
    got = client.get(f"{base}/wire", headers=owner.auth)
    assert got.status_code == 200 and got.json() == created

    updated = client.put(
        f"{base}/wire", json={"description": "e", "colour": "blue"}, headers=owner.auth
    )
    assert updated.status_code == 200, updated.text
    assert updated.json() == {**created, "description": "e"}
    assert client.get(f"{base}/wire", headers=owner.auth).json() == updated.json()

    create_repository(client, owner, org, "wire-2")
    for url in (base, f"{API}/repositories"):
        listed = client.get(url, params={"amount": 1}, headers=owner.auth)
        assert listed.status_code == 200, listed.text
        body = listed.json()
        assert set(body) == {"results", "pagination"}
        assert [set(r) for r in body["results"]] == [LISTED], body
        assert body["pagination"]["has_more"] is True
        # The keyset still works without the cursor field: next_offset names the next page.
        rest = client.get(
            url,
            params={"amount": 10, "after": body["pagination"]["next_offset"]},
            headers=owner.auth,
        ).json()
        assert [r["name"] for r in rest["results"]] == ["wire-2"]
        assert all(set(r) == LISTED for r in rest["results"])


def test_repository_bodies_are_typed_and_bad_types_are_400(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org = create_org(client, owner)["name"]
    base = f"{API}/organizations/{org}/repositories"
    for bad in (
        {"name": "r1", "retention_days": "10"},
        {"name": "r1", "retention_days": True},
        {"name": "r1", "agents_require_approval": "yes"},
        {"name": 7},
        {"description": "no name"},
    ):
        response = client.post(base, json=bad, headers=owner.auth)
        assert response.status_code == 400, (bad, response.text)
        assert set(response.json()) == {"message", "code", "request_id"}
    create_repository(client, owner, org, "r1", description=None, retention_days=30)
    renamed = client.put(f"{base}/r1", json={"name": "r2"}, headers=owner.auth)
    assert renamed.status_code == 400, renamed.text
    same = client.put(f"{base}/r1", json={"name": "r1", "visibility": "public"}, headers=owner.auth)
    assert same.status_code == 200, same.text
    assert same.json()["visibility"] == "public" and same.json()["retention_days"] == 30
    assert same.json()["description"] == ""
