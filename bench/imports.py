"""Imports beside raw boto3 doing the same copies, in the same run.

    python3 -m bench.imports [--objects 10000] [--size 1024] [--large-mib 1024]
                             [--bulk-objects 100000] [--backend postgres|sqlite]
                             [--blob-store local|s3]

1. Small objects: `--objects` objects of `--size` bytes on the S3 test server (moto, or
   `TILDE_TEST_S3_ENDPOINT`), imported through the API (request to `completed`, commit
   included) beside a raw boto3 loop with 10 in flight that does the same copy into the same
   kind of store (local: GET, write, fsync; S3: GET, PUT). Target: imports >= 70 % of it.
2. One large object: MB/s of its import beside a raw boto3 streaming GET written to disk
   (fsync), the way the import reads it. boto3's `download_file` (parallel ranged GETs) is
   printed too; moto copies the whole object for every range it serves, so on moto it is not
   a fair bound.
3. A bulk import of `--bulk-objects` tiny objects into a fresh repository (objects/s), then a
   10-change commit's latency there (10 imported paths changed), beside the same commit on an
   empty repository (the job refreshes planner statistics on PostgreSQL). Target: p50 <= 30 ms
   and within 1.5x of the empty repository. `--bulk-objects 0` measures the commit on the
   small-object repository instead.

Without `TILDE_TEST_S3_ENDPOINT` the benchmark starts an S3 server (moto) of its own.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from infra.bootstrap import bootstrap
from interfaces.http.app import create_app
from tests import services
from tests.catalog_helpers import Repo, create_repository, new_repo, s3_overrides
from tests.conftest import FAST_HASHER, make_settings
from tests.imports_helpers import started, wait_job
from tests.imports_sources import BotoSource, FakeConnectors, new_bucket, s3_client

MiB = 1 << 20


def fill(bucket: str, count: int, size: int, prefix: str = "small/") -> None:
    client = s3_client()

    def put(i: int) -> None:
        client.put_object(Bucket=bucket, Key=f"{prefix}{i:07d}", Body=os.urandom(size))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(count)))


def raw_copy(bucket: str, prefix: str, blob_store: str, work: Path) -> tuple[int, float]:
    """The baseline: list, then GET each object and store it (10 in flight)."""
    client = s3_client()
    target = new_bucket() if blob_store == "s3" else ""
    started_at = time.perf_counter()
    keys = [
        o["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for o in page.get("Contents", [])
    ]

    def copy(key: str) -> None:
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        if target:
            client.put_object(Bucket=target, Key=key, Body=data)
            return
        path = work / hashlib.md5(key.encode()).hexdigest()
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(copy, keys))
    return len(keys), time.perf_counter() - started_at


def timed_import(repo: Repo, connector: str, prefix: str, dest: str) -> tuple[int, float]:
    started_at = time.perf_counter()
    job = started(
        repo, {"connector_id": connector, "destination_path": dest, "source_prefix": prefix}
    )
    status = wait_job(repo, job, timeout=3600)
    assert status["status"] == "completed", status
    return int(status["objects_imported"]), time.perf_counter() - started_at


def commit_latency(repo: Repo, rounds: int, prefix: str, spread: int) -> list[float]:
    """Seconds per commit of 10 changed objects (the commit call only): paths
    `{prefix}{i:07d}` spread over `[0, spread)`, i.e. imported ones where there are."""
    samples = []
    step = max(1, spread // (rounds * 10 + 1))
    for r in range(rounds):
        sid = repo.open_session()
        for i in range(10):
            repo.upload(sid, f"{prefix}{((r * 10 + i) * step) % spread:07d}", os.urandom(64))
        t = time.perf_counter()
        response = repo.commit(sid, f"ten changes {r}")
        samples.append(time.perf_counter() - t)
        assert response.status_code == 200, response.text
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--blob-store", choices=("local", "s3"), default="local")
    parser.add_argument("--bulk-objects", type=int, default=100_000)
    parser.add_argument("--commits", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tilde-import-bench-"))
    overrides: dict[str, Any] = s3_overrides() if args.blob_store == "s3" else {}
    settings = make_settings(tmp, args.backend, log_level="ERROR", **overrides)
    container = bootstrap(settings, hasher=FAST_HASHER)
    connectors = FakeConnectors()
    container.services["connectors"] = connectors
    bucket = new_bucket()
    print(f"filling s3://{bucket}/small/ with {args.objects} x {args.size} B ...")
    fill(bucket, args.objects, args.size)
    connector = connectors.add(BotoSource(bucket))
    try:
        with TestClient(create_app(container, run_background=True)) as client:
            repo = new_repo(container, client)
            print(f"\n| what ({args.backend}, {args.blob_store} blobs) | tilde | boto3 | ratio |")
            print("|---|---|---|---|")
            if args.objects:
                raw_n, raw_s = raw_copy(bucket, "small/", args.blob_store, tmp)
                n, s = timed_import(repo, connector, "small/", "in/")
                assert n == raw_n == args.objects
                print(f"| {n} small objects, objects/s | {n / s:.0f} | {raw_n / raw_s:.0f} "
                      f"| {(n / s) / (raw_n / raw_s):.0%} (target >= 70 %) |")  # fmt: skip
            if args.large_mib:
                large(repo, connector, bucket, args.large_mib, tmp)

            def fresh() -> Repo:
                made = create_repository(client, repo.owner, repo.org)["name"]
                return Repo(client, repo.owner, repo.org, made)

            full, prefix, count = repo, "in/", args.objects
            if args.bulk_objects:
                print(f"filling s3://{bucket}/bulk/ with {args.bulk_objects} x 16 B ...")
                fill(bucket, args.bulk_objects, 16, prefix="bulk/")
                full, prefix, count = fresh(), "b/", args.bulk_objects
                n, s = timed_import(full, connector, "bulk/", prefix)
                assert n == count
                print(f"| {n} tiny objects into a fresh repository, objects/s | {n / s:.0f} "
                      "| - | - |")  # fmt: skip
            if count:
                commit_row(full, fresh(), args.commits, prefix, count)
    finally:
        container.close()
        if settings.is_postgres:
            services.drop_database(settings.database_url)


def commit_row(full: Repo, empty: Repo, rounds: int, prefix: str, count: int) -> None:
    samples = commit_latency(full, rounds, prefix, count)
    full_ms = statistics.median(samples) * 1e3
    empty_ms = statistics.median(commit_latency(empty, rounds, prefix, count)) * 1e3
    print(f"| 10-change commit p50 after importing {count} objects, ms | {full_ms:.1f} "
          f"(max {max(samples) * 1e3:.0f}) | {empty_ms:.1f} (empty repository) "
          f"| {full_ms / empty_ms:.2f}x (target <= 30 ms, <= 1.5x) |")  # fmt: skip


def large(repo: Repo, connector: str, bucket: str, mib: int, tmp: Path) -> None:
    client = s3_client()
    key = "large/blob.bin"
    client.upload_fileobj(_Random(mib * MiB), bucket, key)
    t = time.perf_counter()
    with open(tmp / "large.bin", "wb") as f:
        for chunk in client.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(8 * MiB):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    raw = mib * MiB / (time.perf_counter() - t) / 1e6
    (tmp / "large.bin").unlink()
    t = time.perf_counter()
    client.download_file(bucket, key, str(tmp / "large.bin"))
    with open(tmp / "large.bin", "rb") as f:
        os.fsync(f.fileno())
    ranged = mib * MiB / (time.perf_counter() - t) / 1e6
    (tmp / "large.bin").unlink()
    _, s = timed_import(repo, connector, "large/", "big/")
    ours = mib * MiB / s / 1e6
    label = f"one {mib} MiB object, MB/s"
    print(f"| {label} | {ours:.0f} | {raw:.0f} (GET stream to disk; download_file "
          f"{ranged:.0f}) | {ours / raw:.0%} |")  # fmt: skip


class _Random:
    """`size` pseudo-random bytes read as a file (never held whole)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = min(self.left, 8 * MiB if n < 0 else n)
        self.left -= n
        return os.urandom(n)


if __name__ == "__main__":
    main()
