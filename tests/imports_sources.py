"""A stand-in for the connectors service in import tests: buckets on the test S3 server
(moto) read with boto3, behind the `source_for` interface the connectors context offers."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

import boto3
from botocore.config import Config

from domain.shared.errors import NotFound
from tests import services


def s3_client() -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=services.s3_endpoint(),
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=32),
    )


def new_bucket(objects: dict[str, bytes] | None = None) -> str:
    """A fresh bucket holding `objects` (key -> bytes)."""
    bucket = f"imp-{uuid.uuid4().hex[:16]}"
    client = s3_client()
    client.create_bucket(Bucket=bucket)
    for key, data in (objects or {}).items():
        client.put_object(Bucket=bucket, Key=key, Body=data)
    return bucket


@dataclass(frozen=True)
class Listed:
    key: str
    size: int
    etag: str
    last_modified: datetime | None
    content_type: str | None


class BotoSource:
    """One bucket; `opened` counts reads per key, `on_open` may slow or break them."""

    def __init__(self, bucket: str, on_open: Callable[[str], None] | None = None) -> None:
        self.bucket = bucket
        self.client = s3_client()
        self.on_open = on_open
        self.opened: dict[str, int] = {}
        self.lock = threading.Lock()

    def list(self, prefix: str, start_after: str = "") -> Iterator[Listed]:
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            args["StartAfter"] = start_after
        for page in self.client.get_paginator("list_objects_v2").paginate(**args):
            for item in page.get("Contents", []):
                yield Listed(item["Key"], int(item["Size"]), item["ETag"].strip('"'), None, None)

    def open(self, key: str) -> BinaryIO:
        with self.lock:
            self.opened[key] = self.opened.get(key, 0) + 1
        if self.on_open is not None:
            self.on_open(key)
        return cast(BinaryIO, self.client.get_object(Bucket=self.bucket, Key=key)["Body"])


class FakeConnectors:
    """`source_for` over registered (connector id -> bucket, base prefix) pairs."""

    def __init__(self) -> None:
        self.sources: dict[str, tuple[BotoSource, str]] = {}

    def add(self, source: BotoSource, base: str = "", connector_id: str = "") -> str:
        connector_id = connector_id or str(uuid.uuid4())
        self.sources[connector_id] = (source, base)
        return connector_id

    def source_for(self, org_id: str, connector_id: str, repository_id: str) -> Any:
        if connector_id not in self.sources:
            raise NotFound(f"connector {connector_id} not found")
        return self.sources[connector_id]


def logged_open(log: Path, delay: float) -> Callable[[str], None]:
    """Appends each opened key to `log` (one line per read, across processes)."""

    def on_open(key: str) -> None:
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {key}\n")
        if delay:
            threading.Event().wait(delay)

    return on_open


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()
