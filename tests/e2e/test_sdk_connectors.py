"""The official SDK (`tilde-sdk`) against a live server, on SQLite and PostgreSQL:
`org.connectors` and `repo.connectors` over real S3 (moto) and GCS (emulator) buckets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import tilde
from tilde.exceptions import BadRequestError, ConflictError, NotFoundError

from infra.bootstrap import Container
from tests.builders import name
from tests.conftest import LiveServer
from tests.connector_helpers import gcs_bucket, gcs_config, s3_bucket, s3_config
from tests.orgs import person

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(live_server: LiveServer, container: Container) -> Iterator[tilde.Client]:
    owner = person(container)
    with tilde.Client(endpoint_url=live_server.url, api_key=owner.token) as sdk:
        yield sdk


def test_connectors_and_attachments_through_the_sdk(client: tilde.Client) -> None:
    org = client.organizations.create(name("sdk"), "Connectors")
    repo = org.repositories.create("data")
    bucket = s3_bucket({"exports/a.csv": b"1"})
    s3 = org.connectors.create("s3", "s3", f"s3://{bucket}/exports/", s3_config())
    assert (s3.name, s3.type, s3.source_uri) == ("s3", "s3", f"s3://{bucket}/exports/")
    assert s3.id and s3.created_at is not None and s3.disabled is False
    gcs = org.connectors.create("gcs", "gcs", f"gs://{gcs_bucket({'a': b'1'})}/", gcs_config())
    assert gcs.type == "gcs"
    assert [c.name for c in org.connectors.list()] == ["gcs", "s3"]
    assert org.connectors.get(s3.id).source_uri == s3.source_uri
    with pytest.raises(ConflictError):
        org.connectors.create("s3", "s3", f"s3://{bucket}/", s3_config())
    with pytest.raises(BadRequestError, match="not supported by this server"):
        org.connectors.create("git", "git", "git@github.com:o/r.git", {})

    repo.connectors.attach(s3.id)
    with pytest.raises(ConflictError):
        repo.connectors.attach(s3.id)
    assert [c.id for c in repo.connectors.list()] == [s3.id]
    repo.connectors.detach(s3.id)
    assert list(repo.connectors.list()) == []
    repo.connectors.attach(gcs.id)

    s3.delete()
    with pytest.raises(NotFoundError):
        org.connectors.get(s3.id)
    gcs.delete()
    assert list(org.connectors.list()) == []
    assert list(repo.connectors.list()) == []
