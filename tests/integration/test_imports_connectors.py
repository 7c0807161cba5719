"""Imports from a connector's bucket on the test S3 server, on both backends: bytes copied
with their source metadata, batches checkpointed, failures retried then reported, a run
broken mid-import resumed without copying finished objects again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from litestar.testing import TestClient

from domain.imports.job import ImportJob
from domain.shared.errors import Gone
from infra.bootstrap import Container
from tests.catalog_helpers import Repo, new_repo
from tests.imports_helpers import start_import, started, wait_job
from tests.imports_sources import BotoSource, FakeConnectors, md5, new_bucket
from tests.orgs import assert_error

OBJECTS = {f"base/data/{i:03d}.bin": f"object {i} ".encode() * (i + 1) for i in range(23)}


@pytest.fixture
def connectors(container: Container) -> Iterator[FakeConnectors]:
    fake = FakeConnectors()
    container.services["connectors"] = fake
    container.services["import_runner"].batch = 10
    yield fake
    del container.services["connectors"]


@pytest.fixture
def bucket() -> str:
    return new_bucket({**OBJECTS, "base/other/x.txt": b"x", "elsewhere/y.txt": b"y"})


def imported(container: Container, repo: Repo, prefix: str) -> dict[str, dict[str, Any]]:
    org_id = container.resolve_organization(repo.org)
    repo_id = str(container.catalog.get_repository(org_id, repo.name).id)
    rows = container.catalog_db.query(
        "SELECT path, etag, size, source_metadata FROM catalog_entries WHERE repository_id = ?",
        (repo_id,),
    )
    return {r["path"]: r for r in rows if r["path"].startswith(prefix)}


def progress_events(container: Container, job_id: str) -> list[Any]:
    events = container.applications["imports"].events.get(UUID(job_id))
    return [e for e in events if isinstance(e, ImportJob.Progressed)]


def test_a_connector_import_copies_each_object_once_with_its_source_metadata(
    client: TestClient[Any], container: Container, connectors: FakeConnectors, bucket: str
) -> None:
    repo = new_repo(container, client)
    source = BotoSource(bucket)
    connector = connectors.add(source, "base/")
    job_id = started(
        repo, {"connector_id": connector, "destination_path": "in", "source_prefix": "data/"}
    )
    status = wait_job(repo, job_id)
    assert status["status"] == "completed", status
    assert status["objects_imported"] == len(OBJECTS)
    assert status["connector_id"] == connector and status["source_repository_id"] is None
    assert source.opened == dict.fromkeys(OBJECTS, 1)
    rows = imported(container, repo, "in/")
    assert sorted(rows) == [f"in/{k.removeprefix('base/data/')}" for k in sorted(OBJECTS)]
    for key, data in OBJECTS.items():
        path = f"in/{key.removeprefix('base/data/')}"
        assert repo.read(path) == data
        assert rows[path]["etag"] == md5(data) and rows[path]["size"] == len(data)
        meta = json.loads(rows[path]["source_metadata"])
        assert meta["connector_id"] == connector and meta["source_path"] == key
        assert meta["source_etag"] == md5(data) and meta["import_job_id"] == job_id
    # Three batches of at most ten, each checkpointed at its last key.
    checkpoints = [e.checkpoint for e in progress_events(container, job_id)]
    assert checkpoints == ["base/data/009.bin", "base/data/019.bin", "base/data/022.bin"]
    [commit] = repo.log()["results"]
    assert commit["id"] == status["commit_id"]
    assert commit["message"] == f"Import from connector {connector} (data/) into /in/"


def test_a_run_broken_mid_import_resumes_after_its_checkpoint(
    client: TestClient[Any], container: Container, connectors: FakeConnectors, bucket: str
) -> None:
    broken = {"once": True}

    def break_once(key: str) -> None:
        if key == "base/data/014.bin" and broken.pop("once", False):
            raise ConnectionResetError("the connection dropped")

    repo = new_repo(container, client)
    source = BotoSource(bucket, break_once)
    connector = connectors.add(source, "base/")
    job_id = started(repo, {"connector_id": connector, "destination_path": "d/"})
    status = wait_job(repo, job_id)
    assert status["status"] == "completed", status
    # Only the batch that broke was read again; the first batch was done and stays done.
    again = {k for k, n in source.opened.items() if n > 1}
    assert again and all("base/data/010.bin" <= k <= "base/data/019.bin" for k in again)
    assert all(source.opened[f"base/data/{i:03d}.bin"] == 1 for i in range(10))
    expected = len(OBJECTS) + 1  # base/other/x.txt too
    assert status["objects_imported"] == expected
    assert len(imported(container, repo, "d/")) == expected
    assert len(repo.log()["results"]) == 1


def test_an_unreadable_source_fails_the_job_with_the_providers_error(
    client: TestClient[Any], container: Container, connectors: FakeConnectors
) -> None:
    repo = new_repo(container, client)
    connector = connectors.add(BotoSource("no-such-bucket-for-imports"), "")
    job_id = started(repo, {"connector_id": connector, "destination_path": "x/"})
    status = wait_job(repo, job_id, timeout=90)
    assert status["status"] == "failed", status
    assert "NoSuchBucket" in status["error"], status
    assert status["commit_id"] == "" and repo.log()["results"] == []


def test_an_unknown_connector_is_refused_when_the_import_is_asked_for(
    client: TestClient[Any], container: Container, connectors: FakeConnectors
) -> None:
    repo = new_repo(container, client)
    unknown = {"connector_id": "6f1c1f8e-2f5b-4a57-9d7e-5b0f0c7a9a11", "destination_path": "x/"}
    assert_error(start_import(repo, unknown), 404, "NOT_FOUND")


def test_an_empty_source_prefix_completes_with_nothing_committed(
    client: TestClient[Any], container: Container, connectors: FakeConnectors, bucket: str
) -> None:
    repo = new_repo(container, client)
    connector = connectors.add(BotoSource(bucket), "base/")
    job_id = started(
        repo, {"connector_id": connector, "destination_path": "x/", "source_prefix": "none/"}
    )
    status = wait_job(repo, job_id)
    assert (status["status"], status["objects_imported"], status["commit_id"]) == (
        "completed",
        0,
        "",
    )
    assert repo.log()["results"] == []


class DeletedAfterStart(FakeConnectors):
    """The connector is deleted once the import has been asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def source_for(self, org_id: str, connector_id: str, repository_id: str) -> Any:
        self.calls += 1
        if self.calls > 1:
            raise Gone("connector 'bucket' was deleted; it imports no more")
        return super().source_for(org_id, connector_id, repository_id)


def test_a_connector_deleted_before_the_job_runs_fails_it_at_once(
    client: TestClient[Any], container: Container, bucket: str
) -> None:
    connectors = DeletedAfterStart()
    container.services["connectors"] = connectors
    try:
        repo = new_repo(container, client)
        connector = connectors.add(BotoSource(bucket), "base/")
        job_id = started(repo, {"connector_id": connector, "destination_path": "x/"})
        status = wait_job(repo, job_id)
    finally:
        del container.services["connectors"]
    assert status["status"] == "failed"
    assert status["error"] == "connector 'bucket' was deleted; it imports no more"
    assert connectors.calls == 2  # not retried: no retry brings a deleted connector back
    assert repo.log()["results"] == []
