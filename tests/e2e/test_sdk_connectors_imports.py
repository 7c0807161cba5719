"""The official SDK end to end against a live server, on both backends: create an S3
connector (moto) and a GCS connector (the emulator), attach them, import, poll, read the
imported objects; then a cross-repository import of the result."""

from __future__ import annotations

import time
from typing import Any

import pytest
import tilde

from infra.bootstrap import Container
from tests.conftest import LiveServer, create_key, create_user
from tests.connector_helpers import gcs_bucket, gcs_config, s3_bucket, s3_config

OBJECTS = {f"exports/part-{i}.csv": f"{i},{i * i}\n".encode() * (i + 1) for i in range(5)}


def finished(job: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while job.refresh().status not in ("completed", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return job


@pytest.mark.parametrize("kind", ["s3", "gcs"])
def test_connector_attach_import_poll_read_then_cross_repository_import(
    container: Container, live_server: LiveServer, kind: str
) -> None:
    user = create_user(container)
    token = create_key(container, user)
    if kind == "s3":
        uri, config = f"s3://{s3_bucket(OBJECTS)}/exports/", s3_config()
    else:
        uri, config = f"gs://{gcs_bucket(OBJECTS)}/exports/", gcs_config()
    with tilde.Client(endpoint_url=live_server.url, api_key=token) as client:
        org = client.organizations.create(f"i-{user['username']}", display_name="imports")
        org.repositories.create("landing", description="imported")
        org.repositories.create("copy", description="cross-repository")
        connector = org.connectors.create("exports", kind, uri, config)
        assert "secret_access_key" not in str(vars(connector))
        landing = client.repository(f"{org.name}/landing")
        landing.connectors.attach(connector.id)
        assert [c.id for c in landing.connectors.list()] == [connector.id]

        job = finished(landing.imports.create_from_connector(connector.id, "raw/"))
        assert job.status == "completed", job.error
        assert job.objects_imported == len(OBJECTS) and job.commit_id
        commit = landing.commits.get(job.commit_id)
        for key, data in OBJECTS.items():
            assert commit.objects.get(f"raw/{key.removeprefix('exports/')}").read() == data

        copy = client.repository(f"{org.name}/copy")
        again = finished(copy.imports.create_from_repository(f"{org.name}/landing", "from/"))
        assert again.status == "completed", again.error
        assert again.objects_imported == len(OBJECTS)
        copied = copy.commits.get(again.commit_id)
        assert copied.objects.get("from/raw/part-3.csv").read() == OBJECTS["exports/part-3.csv"]
