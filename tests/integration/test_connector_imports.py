"""Imports through real connectors (no fake resolver), on both backends: an S3 bucket on moto
and a GCS bucket on the emulator imported over HTTP; a connector not attached, detached or
deleted imports nothing and says why."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar.testing import TestClient

from infra.bootstrap import Container
from tests.catalog_helpers import new_repo
from tests.connector_helpers import (
    connectors_url,
    create_connector,
    gcs_bucket,
    gcs_config,
    repo_connectors_url,
    s3_body,
    s3_bucket,
)
from tests.imports_helpers import start_import, started, wait_job
from tests.orgs import assert_error

OBJECTS = {f"exports/day-{i:02d}.csv": f"row {i}\n".encode() * (i + 1) for i in range(12)}


def _body(kind: str, bucket: str) -> dict[str, Any]:
    if kind == "s3":
        return s3_body("src", bucket, "exports/")
    uri = f"gs://{bucket}/exports/"
    return {"name": "src", "type": "gcs", "source_uri": uri, "config": gcs_config()}


@pytest.mark.parametrize("kind", ["s3", "gcs"])
def test_an_attached_connector_imports_its_bucket(
    client: TestClient[Any], container: Container, kind: str
) -> None:
    bucket = s3_bucket(OBJECTS) if kind == "s3" else gcs_bucket(OBJECTS)
    repo = new_repo(container, client)
    connector = create_connector(client, repo.owner, repo.org, _body(kind, bucket))
    attach = client.post(
        repo_connectors_url(repo.org, repo.name),
        json={"connector_id": connector["id"]},
        headers=repo.auth,
    )
    assert attach.status_code == 201, attach.text
    job = started(repo, {"connector_id": connector["id"], "destination_path": "in"})
    status = wait_job(repo, job)
    assert status["status"] == "completed", status
    assert status["objects_imported"] == len(OBJECTS) and status["commit_id"]
    for key, data in OBJECTS.items():
        assert repo.read(f"in/{key.removeprefix('exports/')}") == data
    org_id = container.resolve_organization(repo.org)
    repo_id = str(container.catalog.get_repository(org_id, repo.name).id)
    row = container.catalog_db.query_one(
        "SELECT source_metadata FROM catalog_entries WHERE repository_id = ? AND path = ?",
        (repo_id, "in/day-03.csv"),
    )
    assert row is not None
    meta = json.loads(row["source_metadata"])
    assert meta["connector_id"] == connector["id"]
    assert meta["source_path"] == "exports/day-03.csv"


def test_an_unattached_detached_or_deleted_connector_imports_nothing(
    client: TestClient[Any], container: Container
) -> None:
    repo = new_repo(container, client)
    connector = create_connector(client, repo.owner, repo.org, s3_body("src", s3_bucket(OBJECTS)))
    body = {"connector_id": connector["id"], "destination_path": "in/"}
    refused = assert_error(start_import(repo, body), 400)
    assert "not attached" in refused["message"]
    attachments = repo_connectors_url(repo.org, repo.name)
    client.post(attachments, json={"connector_id": connector["id"]}, headers=repo.auth)
    client.delete(f"{attachments}/{connector['id']}", headers=repo.auth)
    assert "not attached" in assert_error(start_import(repo, body), 400)["message"]
    client.post(attachments, json={"connector_id": connector["id"]}, headers=repo.auth)
    client.delete(f"{connectors_url(repo.org)}/{connector['id']}", headers=repo.auth)
    assert "was deleted" in assert_error(start_import(repo, body), 410, "GONE")["message"]
    assert repo.log()["results"] == []
