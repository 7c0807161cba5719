"""S3Source: an S3 (or S3-compatible) bucket read through boto3 with the connector's keys."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError

from application.connectors.ports import SourceObject
from domain.connectors.endpoints import EndpointRefused
from domain.connectors.sources import DEFAULT_REGION, SourceFailed, SourceLocation
from infra.connectors.guard import GuardedClients


def s3_failure(location: SourceLocation, exc: Exception) -> SourceFailed | EndpointRefused:
    """The provider's own words (never the credentials) in a 502; the guard's refusal as is."""
    refused = exc.kwargs.get("error") if isinstance(exc, HTTPClientError) else None
    if isinstance(refused, EndpointRefused):
        return refused
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        detail = f"{error.get('Code', 'error')}: {error.get('Message', '') or exc}"
    else:
        detail = str(exc)
    return SourceFailed(f"S3 answered for {location.uri}: {detail}")


class S3Source:
    """One bucket; every call is bounded by `timeout` seconds per connection attempt, and
    every connection goes through the SSRF guard of `clients` when given."""

    def __init__(
        self,
        location: SourceLocation,
        config: Mapping[str, Any],
        timeout: float = 10.0,
        clients: GuardedClients | None = None,
    ) -> None:
        self.location = location
        self.bucket = location.bucket
        endpoint = config.get("endpoint") or None
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=config.get("region") or DEFAULT_REGION,
            aws_access_key_id=config.get("access_key_id"),
            aws_secret_access_key=config.get("secret_access_key"),
            aws_session_token=config.get("session_token") or None,
            config=Config(
                connect_timeout=timeout,
                read_timeout=timeout,
                retries={"max_attempts": 2, "mode": "standard"},
                max_pool_connections=16,
                # Custom endpoints (MinIO, moto, …) rarely serve virtual-hosted buckets.
                s3={"addressing_style": "path" if endpoint else "auto"},
            ),
        )
        if clients is not None:
            clients.protect_boto(self.client)

    def list(self, prefix: str, start_after: str = "") -> Iterator[SourceObject]:
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            args["StartAfter"] = start_after
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**args):
                for item in page.get("Contents", []):
                    yield SourceObject(
                        key=item["Key"],
                        size=int(item["Size"]),
                        etag=str(item.get("ETag", "")).strip('"'),
                        last_modified=item.get("LastModified"),
                        content_type=None,
                    )
        except (BotoCoreError, ClientError) as exc:
            raise s3_failure(self.location, exc) from None

    def open(self, key: str) -> BinaryIO:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise s3_failure(self.location, exc) from None
        return cast(BinaryIO, answer["Body"])

    def probe(self) -> None:
        try:
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.location.prefix, MaxKeys=1)
        except (BotoCoreError, ClientError) as exc:
            raise s3_failure(self.location, exc) from None
