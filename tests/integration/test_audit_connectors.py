"""Connectors and imports in the audit log, over HTTP on both backends: create, attach,
detach, delete and each import request (with its outcome) are on the record with who did
them; a connector's config and credentials never appear."""

from __future__ import annotations

import json
import uuid
from typing import Any

from litestar.testing import TestClient

from domain.shared.redaction import REDACTED
from infra.bootstrap import Container
from tests.catalog_helpers import new_repo
from tests.connector_helpers import (
    connectors_url,
    create_connector,
    repo_connectors_url,
    s3_body,
    s3_bucket,
)
from tests.imports_helpers import started, wait_job
from tests.orgs import API


def test_connector_and_import_requests_are_audited_without_their_configs(
    client: TestClient[Any], container: Container
) -> None:
    repo = new_repo(container, client)
    marker = f"MARKER-{uuid.uuid4().hex}"
    body = s3_body("lake", s3_bucket({"data/a.csv": b"a"}), secret_access_key=marker)
    body["config"]["session_token"] = marker
    connector = create_connector(client, repo.owner, repo.org, body)
    cid = connector["id"]
    attachments = repo_connectors_url(repo.org, repo.name)
    assert client.post(attachments, json={"connector_id": cid}, headers=repo.auth).status_code
    job = started(repo, {"connector_id": cid, "destination_path": "in"})
    assert wait_job(repo, job)["status"] == "completed"
    again = started(
        repo,
        {"source_organization": repo.org, "source_repository": repo.name, "destination_path": "x"},
    )
    assert wait_job(repo, again)["status"] == "completed"
    assert client.delete(f"{attachments}/{cid}", headers=repo.auth).status_code == 204
    deleted = client.delete(f"{connectors_url(repo.org)}/{cid}", headers=repo.auth)
    assert deleted.status_code == 204

    page = client.get(
        f"{API}/organizations/{repo.org}/audit", params={"amount": 1000}, headers=repo.auth
    )
    assert page.status_code == 200, page.text
    entries = page.json()["results"]
    # Neither the secret nor the access key id ("test") is shown anywhere.
    assert marker not in page.text
    assert '"test"' not in json.dumps([e["data"] for e in entries])
    on_connector = [(e["event_type"], e["actor_name"]) for e in entries if e["resource_id"] == cid]
    owner = repo.owner.username
    assert on_connector == [
        ("Connector.Created", owner),
        ("Connector.Attached", owner),
        ("Connector.Detached", owner),
        ("Connector.Deleted", owner),
    ]
    created = next(e["data"] for e in entries if e["event_type"] == "Connector.Created")
    assert created["config_token"] == REDACTED
    assert created["source_uri"] == body["source_uri"] and created["type"] == "s3"
    repo_id = next(
        e["data"]["repository_id"] for e in entries if e["event_type"] == "Connector.Attached"
    )
    jobs = [e for e in entries if e["resource_type"] == "ImportJob"]
    assert [(e["resource_id"], e["event_type"]) for e in jobs] == [
        (job, "ImportJob.Requested"),
        (job, "ImportJob.Completed"),
        (again, "ImportJob.Requested"),
        (again, "ImportJob.Completed"),
    ]
    requested = {e["resource_id"]: e for e in jobs if e["event_type"] == "ImportJob.Requested"}
    assert requested[job]["actor_name"] == owner
    assert requested[job]["data"]["connector_id"] == cid
    assert requested[job]["data"]["repository_id"] == repo_id
    assert requested[again]["data"]["source_repository"] == repo.name
    completed = next(e for e in jobs if e["event_type"] == "ImportJob.Completed")
    assert completed["data"]["commit_id"] and completed["actor_type"] == "system"
    only = client.get(
        f"{API}/organizations/{repo.org}/audit",
        params={"event_type": "ImportJob.Requested"},
        headers=repo.auth,
    ).json()["results"]
    assert [e["resource_id"] for e in only] == [job, again]
