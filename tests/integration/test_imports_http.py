"""Imports over raw HTTP on both backends: requests checked, cross-repository imports
reuse the source's bytes, jobs complete with a commit, visible only to readers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar.testing import TestClient

from infra.bootstrap import Container
from tests.catalog_api import Api, agent_api, check
from tests.catalog_helpers import Repo, create_repository, new_repo
from tests.imports_helpers import job_status, start_import, started, wait_job
from tests.orgs import add_member, assert_error, person


def entry_rows(container: Container, repo: Repo) -> dict[str, dict[str, Any]]:
    repo_id = str(container.catalog.get_repository(org_id(container, repo), repo.name).id)
    rows = container.catalog_db.query(
        "SELECT path, address, etag, size, source_metadata FROM catalog_entries"
        " WHERE repository_id = ? AND valid_to = (SELECT MAX(valid_to) FROM catalog_entries)",
        (repo_id,),
    )
    return {r["path"]: r for r in rows}


def org_id(container: Container, repo: Repo) -> str:
    return container.resolve_organization(repo.org)


@pytest.fixture
def source(client: TestClient[Any], container: Container) -> Repo:
    repo = new_repo(container, client)
    repo.write({"a/1.txt": b"one", "a/2.txt": b"two" * 1000, "b/3.txt": b"three"})
    return repo


def sibling(client: TestClient[Any], source: Repo) -> Repo:
    created = create_repository(client, source.owner, source.org)
    return Repo(client, source.owner, source.org, created["name"])


def test_cross_repository_import_commits_once_and_reuses_the_bytes(
    client: TestClient[Any], container: Container, source: Repo
) -> None:
    dest = sibling(client, source)
    dest.write({"keep.txt": b"kept"})
    job_id = started(
        dest,
        {
            "source_organization": source.org,
            "source_repository": source.name,
            "destination_path": "copied",
            "source_prefix": "a/",
        },
    )
    status = wait_job(dest, job_id)
    assert status["status"] == "completed", status
    assert status["objects_imported"] == 2
    assert status["commit_id"] and status["error"] == ""
    assert status["destination_path"] == "copied/"
    assert status["source_organization"] == source.org
    assert status["source_repository"] == source.name
    assert status["connector_id"] is None and status["source_repository_id"]
    assert status["created_by"] == source.owner.id and status["created_by_type"] == "user"
    assert dest.read("copied/1.txt") == b"one"
    assert dest.read("copied/2.txt") == b"two" * 1000
    assert dest.read("keep.txt") == b"kept"
    log = dest.log()["results"]
    assert log[0]["id"] == status["commit_id"]
    assert log[0]["message"] == f"Import from {source.org}/{source.name} (a/) into /copied/"
    assert len(log) == 2
    # Zero-copy: the new entries reference the source's blobs.
    src, dst = entry_rows(container, source), entry_rows(container, dest)
    assert dst["copied/1.txt"]["address"] == src["a/1.txt"]["address"]
    assert dst["copied/2.txt"]["etag"] == src["a/2.txt"]["etag"]
    meta = json.loads(dst["copied/1.txt"]["source_metadata"])
    assert meta["source_path"] == "a/1.txt" and meta["import_job_id"] == job_id
    assert meta["connector_type"] == "repository" and meta["source_etag"]
    listed = dest.objects(prefix="copied/")["results"]
    assert [r["path"] for r in listed] == ["copied/1.txt", "copied/2.txt"]
    assert listed[0]["entry"]["source_metadata"]["source_path"] == "a/1.txt"


def test_an_import_with_nothing_to_import_completes_without_a_commit(
    client: TestClient[Any], source: Repo
) -> None:
    dest = sibling(client, source)
    job_id = started(
        dest,
        {
            "source_organization": source.org,
            "source_repository": source.name,
            "destination_path": "x/",
            "source_prefix": "nothing-here/",
            "commit_message": "never used",
        },
    )
    status = wait_job(dest, job_id)
    assert (status["status"], status["objects_imported"], status["commit_id"]) == (
        "completed",
        0,
        "",
    )
    assert dest.log()["results"] == []


def test_the_commit_message_and_a_file_prefix_filter(client: TestClient[Any], source: Repo) -> None:
    dest = sibling(client, source)
    job_id = started(
        dest,
        {
            "source_organization": source.org,
            "source_repository": source.name,
            "destination_path": "in/",
            "source_prefix": "a/1",
            "commit_message": "bring one in",
        },
    )
    status = wait_job(dest, job_id)
    assert status["objects_imported"] == 1, status
    assert dest.log()["results"][0]["message"] == "bring one in"
    assert dest.read("in/1.txt") == b"one"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"destination_path": "x/"}, "connector_id, or source_organization"),
        (
            {"connector_id": "6f1c1f8e-2f5b-4a57-9d7e-5b0f0c7a9a11", "source_organization": "o",
             "source_repository": "r", "destination_path": "x/"},
            "not both",
        ),
        ({"source_organization": "o", "destination_path": "x/"}, "go together"),
        ({"source_organization": "o", "source_repository": "r"}, "destination_path is required"),
        ({"connector_id": "nope", "destination_path": "x/"}, "connector_id must be a UUID"),
        (
            {"source_organization": "o", "source_repository": "r", "destination_path": "/abs"},
            "must not start with '/'",
        ),
        (
            {"source_organization": "o", "source_repository": "r", "destination_path": "a/../b"},
            "'.' or '..'",
        ),
    ],
)  # fmt: skip
def test_a_malformed_request_is_a_400_that_says_why(
    repo: Repo, body: dict[str, Any], words: str
) -> None:
    error = assert_error(start_import(repo, body), 400, "BAD_REQUEST")
    assert words in error["message"], error


def test_a_source_the_caller_cannot_read_is_not_found(
    client: TestClient[Any], container: Container, source: Repo
) -> None:
    outsider = new_repo(container, client)
    body = {
        "source_organization": source.org,
        "source_repository": source.name,
        "destination_path": "x/",
    }
    error = assert_error(start_import(outsider, body), 404, "NOT_FOUND")
    assert source.name in error["message"]
    missing = {**body, "source_organization": outsider.org, "source_repository": "no-such"}
    assert_error(start_import(outsider, missing), 404, "NOT_FOUND")
    # A member of the source organization may import from it.
    add_member(client, source.owner, source.org, outsider.owner)
    wait_job(outsider, started(outsider, body))


def test_a_job_is_only_visible_through_its_own_repository(
    client: TestClient[Any], container: Container, source: Repo
) -> None:
    dest = sibling(client, source)
    job_id = started(
        dest,
        {"source_organization": source.org, "source_repository": source.name,
         "destination_path": "d/"},
    )  # fmt: skip
    assert job_status(dest, job_id)["id"] == job_id
    other = client.get(f"{source.base}/import/{job_id}", headers=source.auth)
    assert_error(other, 404, "NOT_FOUND")
    unknown = client.get(f"{dest.base}/import/not-a-uuid", headers=dest.auth)
    assert_error(unknown, 404, "NOT_FOUND")
    stranger = person(container)
    hidden = client.get(f"{dest.base}/import/{job_id}", headers=stranger.auth)
    assert hidden.status_code == 404
    assert wait_job(dest, job_id)["objects_imported"] == 3


def test_an_agent_imports_unless_its_commits_need_approval(
    client: TestClient[Any], source: Repo
) -> None:
    owner = Api(client, source.owner.auth, source.org)
    actions = ("StartImport", "GetImport", "ListObjects", "GetObject")
    agent = agent_api(owner, source.name, actions)
    body = {
        "source_organization": source.org,
        "source_repository": source.name,
        "destination_path": "again/",
        "source_prefix": "b/",
    }
    as_agent = Repo(client, source.owner, source.org, source.name)
    as_agent.auth = agent.auth
    status = wait_job(as_agent, started(as_agent, body))
    assert status["status"] == "completed" and status["created_by_type"] == "agent"
    assert source.read("again/3.txt") == b"three"
    check(owner.call("PUT", source.base, json={"agents_require_approval": True}), 200)
    error = assert_error(start_import(as_agent, body), 403, "FORBIDDEN")
    assert "approval" in error["message"]
