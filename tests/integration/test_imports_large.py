"""A 256 MiB object imported from the S3 test server streams through bounded memory into
either blob store (multipart on S3), its bytes and ETag intact."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from infra.bootstrap import Container, bootstrap
from interfaces.http.app import create_app
from tests.catalog_helpers import MiB, new_repo, s3_overrides
from tests.conftest import FAST_HASHER, make_settings
from tests.imports_helpers import started, wait_job
from tests.imports_sources import BotoSource, FakeConnectors, new_bucket, s3_client

SIZE = 256 * MiB
CHUNK = 4 * MiB
# What the import may add to the process's resident memory while it copies 256 MiB.
GROWTH_LIMIT = 96 * MiB


class Pattern:
    """SIZE deterministic bytes, read as a file without ever being held whole."""

    def __init__(self) -> None:
        self.sent = 0
        self.md5 = hashlib.md5(usedforsecurity=False)

    def read(self, n: int = -1) -> bytes:
        n = min(CHUNK if n < 0 else n, SIZE - self.sent)
        block = hashlib.sha256(str(self.sent // CHUNK).encode()).digest() * (n // 32 + 1)
        data = block[:n]
        self.sent += len(data)
        self.md5.update(data)
        return data


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class PeakMemory:
    """The highest resident size seen while the block runs (sampled every 10 ms)."""

    def __enter__(self) -> PeakMemory:
        self.base = self.peak = rss()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.done.wait(0.01):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.base


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Container]:
    overrides: dict[str, Any] = s3_overrides() if request.param == "s3" else {}
    container = bootstrap(make_settings(tmp_path, "sqlite", **overrides), hasher=FAST_HASHER)
    yield container
    container.close()


@pytest.fixture(scope="module")
def large_bucket() -> tuple[str, str]:
    bucket = new_bucket()
    body = Pattern()
    s3_client().upload_fileobj(body, bucket, "big/blob.bin")
    return bucket, body.md5.hexdigest()


def test_a_large_object_streams_into_the_blob_store_in_bounded_memory(
    store: Container, large_bucket: tuple[str, str]
) -> None:
    bucket, digest = large_bucket
    connectors = FakeConnectors()
    store.services["connectors"] = connectors
    connector = connectors.add(BotoSource(bucket), "big/")
    with TestClient(create_app(store, run_background=True)) as client:
        repo = new_repo(store, client)
        with PeakMemory() as memory:
            job_id = started(repo, {"connector_id": connector, "destination_path": "in/"})
            status = wait_job(repo, job_id, timeout=300)
        assert status["status"] == "completed", status
        entry = repo.head("in/blob.bin")
        assert entry.status_code == 200
        assert int(entry.headers["content-length"]) == SIZE
    org_id = store.resolve_organization(repo.org)
    repo_id = str(store.catalog.get_repository(org_id, repo.name).id)
    [row] = store.catalog_db.query(
        "SELECT address, etag FROM catalog_entries WHERE repository_id = ?", (repo_id,)
    )
    copied = hashlib.md5(usedforsecurity=False)
    with store.blobs.open(row["address"]) as body:
        while chunk := body.read(CHUNK):
            copied.update(chunk)
    assert copied.hexdigest() == digest
    assert memory.growth < GROWTH_LIMIT, f"resident memory grew {memory.growth / MiB:.0f} MiB"
    print(f"\n{store.settings.blob_store}: peak growth {memory.growth / MiB:.1f} MiB")
