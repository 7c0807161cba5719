"""The connector SSRF guard over HTTP, on both backends, without the test allowlist: endpoints
that are or resolve to loopback or cloud metadata answer 400 at creation and in
`connectors:test`; a name that resolves elsewhere at use time (DNS rebinding) fails the saved
connector's test (502) and its import (failed job, nothing committed), whatever it resolved to
when it was created."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar.testing import TestClient

from infra.bootstrap import Container
from infra.settings import Settings
from tests import services
from tests.catalog_helpers import new_repo
from tests.conftest import make_settings
from tests.connector_helpers import (
    connectors_url,
    create_connector,
    repo_connectors_url,
    s3_body,
    s3_bucket,
)
from tests.imports_helpers import started, wait_job
from tests.orgs import assert_error


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A store whose connectors may reach only public addresses (the default)."""
    settings = make_settings(tmp_path, request.param, connector_allowed_endpoints="")
    yield settings
    if settings.is_postgres:
        services.drop_database(settings.database_url)


def test_loopback_metadata_and_names_resolving_to_them_are_refused_with_400(
    client: TestClient[Any], container: Container
) -> None:
    repo = new_repo(container, client)
    bucket = s3_bucket({"data/a.csv": b"a"})
    port = urlsplit(services.s3_endpoint()).port
    url = connectors_url(repo.org)
    endpoints = {
        f"http://127.0.0.1:{port}": "127.0.0.1, a loopback address",
        "http://169.254.169.254/": "169.254.169.254, a cloud metadata (link-local) address",
        f"http://localhost:{port}": "'localhost' resolves to ",
        "http://[::ffff:10.0.0.1]:9000": "a private (RFC 1918) address",
    }
    for endpoint, reason in endpoints.items():
        body = s3_body("src", bucket, endpoint=endpoint)
        for target in (url, f"{url}:test"):
            refused = assert_error(client.post(target, json=body, headers=repo.auth), 400)
            assert refused["code"] == "ENDPOINT_REFUSED" and reason in refused["message"]
            assert "TILDE_CONNECTOR_ALLOWED_ENDPOINTS" in refused["message"]
            assert "test" not in refused["message"].split("allow")[0]  # no credentials quoted
    # A GCS key's token exchange is fetched by the server too.
    key = {"client_email": "a@b.iam", "private_key": "k", "token_uri": "http://169.254.169.254/t"}
    gcs = {"name": "g", "type": "gcs", "source_uri": "gs://bkt/", "config": {}}
    gcs["config"] = {"service_account_json": key}
    refused = assert_error(client.post(url, json=gcs, headers=repo.auth), 400)
    assert refused["code"] == "ENDPOINT_REFUSED" and "169.254.169.254" in refused["message"]
    listed = client.get(url, headers=repo.auth).json()["results"]
    assert listed == []


def test_a_name_rebound_to_loopback_after_creation_fails_the_test_and_the_import(
    client: TestClient[Any], container: Container
) -> None:
    """The create-time check saw a public address; every connection checks again."""
    real = urlsplit(services.s3_endpoint())
    answers = {"rebind.test": "8.8.8.8", "token.test": "8.8.8.8"}
    guard = container.services["connector_sources"].guard
    guard.resolver = lambda host, port: [ipaddress.ip_address(answers[host])]
    repo = new_repo(container, client)
    bucket = s3_bucket({"data/a.csv": b"a", "data/b.csv": b"b"})
    body = s3_body("src", bucket, endpoint=f"http://rebind.test:{real.port}")
    connector = create_connector(client, repo.owner, repo.org, body)
    attach = client.post(
        repo_connectors_url(repo.org, repo.name),
        json={"connector_id": connector["id"]},
        headers=repo.auth,
    )
    assert attach.status_code == 201, attach.text
    # A GCS key's token exchange goes through the guard too.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    account = {
        "type": "service_account",
        "client_email": "importer@project.iam.gserviceaccount.com",
        "private_key": key.decode(),
        "token_uri": f"http://token.test:{real.port}/token",
    }
    gcs = {"name": "g", "type": "gcs", "source_uri": "gs://bkt/", "config": {}}
    gcs["config"] = {"service_account_json": account, "endpoint": "http://rebind.test"}
    google = create_connector(client, repo.owner, repo.org, gcs)
    answers["rebind.test"] = answers["token.test"] = "127.0.0.1"  # where the servers really are
    tested = client.post(f"{connectors_url(repo.org)}/{connector['id']}/test", headers=repo.auth)
    failed = assert_error(tested, 502, "SOURCE_FAILED")
    assert "'rebind.test' resolves to 127.0.0.1, a loopback address" in failed["message"]
    job = wait_job(repo, started(repo, {"connector_id": connector["id"], "destination_path": "in"}))
    assert job["status"] == "failed" and job["commit_id"] in ("", None), job
    assert "'rebind.test' resolves to 127.0.0.1, a loopback address" in job["error"]
    assert job["objects_imported"] == 0
    listing = client.get(f"{repo.base}/objects", headers=repo.auth).json()
    assert listing["results"] == []
    tested = client.post(f"{connectors_url(repo.org)}/{google['id']}/test", headers=repo.auth)
    failed = assert_error(tested, 502, "SOURCE_FAILED")
    assert "'token.test' resolves to 127.0.0.1, a loopback address" in failed["message"]
