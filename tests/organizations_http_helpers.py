"""Helpers shared by the organizations-over-HTTP integration tests."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.orgs import API, Person


def effective(client: TestClient[Any], who: Person, org: str, **params: str) -> list[Any]:
    response = client.get(
        f"{API}/organizations/{org}/effective-policies", params=params, headers=who.auth
    )
    assert response.status_code == 200, response.text
    return [(p["policy_name"], p["source"], p["source_name"]) for p in response.json()["results"]]


def members_of(client: TestClient[Any], who: Person, org: str) -> set[str]:
    response = client.get(f"{API}/organizations/{org}/members", headers=who.auth)
    assert response.status_code == 200, response.text
    return {m["username"] for m in response.json()["results"]}


def group_view(client: TestClient[Any], who: Person, org: str, group_id: str) -> dict[str, Any]:
    response = client.get(f"{API}/organizations/{org}/groups/{group_id}", headers=who.auth)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]
