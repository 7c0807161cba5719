"""Helpers of the connector tests: buckets seeded on the S3 server (moto) and the GCS
emulator, connector bodies, and HTTP shortcuts."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
from litestar.testing import TestClient

from tests import services
from tests.gcs_emulator import gcs_emulator
from tests.orgs import API, Person


def s3_bucket(keys: dict[str, bytes]) -> str:
    """A new bucket on the test S3 server holding `keys`."""
    bucket = f"conn-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client(
        "s3",
        endpoint_url=services.s3_endpoint(),
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket=bucket)
    for key, data in keys.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    return bucket


def gcs_bucket(keys: dict[str, bytes]) -> str:
    """A new bucket on the GCS emulator holding `keys`."""
    bucket = gcs_emulator().client().create_bucket(f"conn-{uuid.uuid4().hex[:12]}")
    for key, data in keys.items():
        bucket.blob(key).upload_from_string(data)
    return str(bucket.name)


def s3_config(**extra: Any) -> dict[str, Any]:
    return {
        "access_key_id": "test",
        "secret_access_key": "test",
        "endpoint": services.s3_endpoint(),
        **extra,
    }


def gcs_config(**extra: Any) -> dict[str, Any]:
    return {"endpoint": gcs_emulator().url, **extra}


def s3_body(name: str, bucket: str, prefix: str = "data/", **config: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "s3",
        "source_uri": f"s3://{bucket}/{prefix}",
        "config": s3_config(**config),
    }


def connectors_url(org: str) -> str:
    return f"{API}/organizations/{org}/connectors"


def repo_connectors_url(org: str, repo: str) -> str:
    return f"{API}/organizations/{org}/repositories/{repo}/connectors"


def create_connector(
    client: TestClient[Any], owner: Person, org: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = client.post(connectors_url(org), json=body, headers=owner.auth)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def create_repo(client: TestClient[Any], owner: Person, org: str, repo: str) -> dict[str, Any]:
    response = client.post(
        f"{API}/organizations/{org}/repositories", json={"name": repo}, headers=owner.auth
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]
