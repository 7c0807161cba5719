"""NUL characters in the path, the query or a body answer 400, never a 500.

Found by probing the fuzz run's operations on PostgreSQL: its text columns cannot store NUL
(`psycopg.DataError`), so 20 routes answered 500 for a NUL in a query parameter (listing
`after`, `ref`, search), a JSON field (descriptions, commit messages, metadata, paths) or a
form field. The guard now refuses them in the path and query, the body check in JSON and
form bodies, on both backends alike.
"""

from __future__ import annotations

import base64
from typing import Any

from litestar.testing import TestClient

from infra.bootstrap import Container
from tests.catalog_api import API, check, open_org
from tests.orgs import assert_error

NUL = "a\x00b"


def test_nul_characters_answer_400_in_the_spec_error_body(
    client: TestClient[Any], container: Container
) -> None:
    api = open_org(client, container)
    api.create_repository("data")
    session = api.open_session("data")
    api.upload("data", session, "a.txt", b"hello")
    commit_id = api.commit_ok("data", session, "first")
    session = api.open_session("data")
    org = f"{API}/organizations/{api.org}"
    repo = api.repo_url("data")
    in_session = {"session_id": session}
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"{API}/auth/search-users", {"params": {"q": NUL}}),
        ("GET", f"{org}/repositories", {"params": {"after": NUL}}),
        ("GET", f"{org}/policies", {"params": {"after": NUL}}),
        ("GET", f"{org}/audit", {"params": {"principal": NUL}}),
        ("GET", f"{repo}/objects", {"params": {"ref": commit_id, "after": NUL}}),
        ("GET", f"{repo}/objects", {"params": {**in_session, "after": NUL}}),
        ("GET", f"{repo}/object", {"params": {"path": "a.txt", "ref": NUL}}),
        ("GET", f"{repo}/log", {"params": {"after": NUL}}),
        ("GET", f"{repo}/diff", {"params": {"left": NUL, "right": commit_id}}),
        ("GET", f"{org}/repositories/a%00b", {}),
        ("PUT", f"{repo}/object", {"params": {**in_session, "path": NUL}}),
        ("POST", f"{org}/roles", {"json": {"name": "role", "description": NUL}}),
        ("POST", f"{org}/agents", {"json": {"name": "bot", "metadata": {"k": NUL}}}),
        ("POST", f"{org}/members", {"json": {"username": NUL}}),
        ("POST", f"{repo}/objects/delete", {"params": in_session, "json": {"paths": [NUL]}}),
        ("POST", f"{repo}/sessions/{session}", {"json": {"message": NUL}}),
        ("POST", f"{repo}/commits/{commit_id}/revert", {"json": {"message": NUL}}),
    ]
    for method, url, kwargs in calls:
        response = api.call(method, url, **kwargs)
        assert response.status_code == 400, f"{method} {url} {kwargs}: {response.text}"
        assert_error(response, 400, "BAD_REQUEST")
    basic = base64.b64encode(f"{NUL}:password".encode()).decode()
    response = client.get(f"{API}/auth/me", headers={"Authorization": f"Basic {basic}"})
    assert response.status_code in (400, 401), response.text
    # A backslash followed by "u0000" is text, not a NUL: it is stored as given.
    text = "a\\u0000b"
    role = check(api.call("POST", f"{org}/roles", json={"name": "r2", "description": text}), 201)
    assert role.json()["description"] == text
    check(api.call("GET", f"{repo}/objects", params={"ref": commit_id}), 200)
