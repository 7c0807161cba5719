"""kill -9 of the worker performing an import: another worker takes the job over after the
lease, continues after the checkpoint without copying finished objects again, and commits
once, every object exactly once (both backends)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from interfaces.http.app import create_app
from tests.catalog_helpers import Repo, new_repo
from tests.conftest import FAST_HASHER
from tests.imports_helpers import job_status, started, wait_job
from tests.imports_sources import BotoSource, FakeConnectors, new_bucket

ROOT = Path(__file__).resolve().parents[2]
COUNT = 60
OBJECTS = {f"src/{i:03d}.bin": bytes([i]) * (4096 + i) for i in range(COUNT)}


def worker_env(settings: Settings) -> dict[str, str]:
    # The deployment's settings; the test services (S3 server) stay as they are.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TILDE_") or k.startswith("TILDE_TEST_")
    }
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "TILDE_DATA_DIR": str(settings.data_dir),
            "TILDE_DATABASE_URL": settings.database_url,
            "TILDE_SECRET_KEY": settings.secret_key,
            "TILDE_LOG_LEVEL": "WARNING",
            "TILDE_PROJECTOR_POLL_INTERVAL": "0.05",
        }
    )
    return env


def start_worker(
    settings: Settings, connector: str, bucket: str, log: Path, ready: Path
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.import_worker", connector, bucket, "src/", str(log),
         str(ready)],
        cwd=str(ROOT),
        env=worker_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=open(log.with_suffix(".err"), "ab"),  # noqa: SIM115 -- the child owns it
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, "the import worker exited"
        assert time.monotonic() < deadline, "the import worker did not start"
        time.sleep(0.05)
    return proc


@pytest.fixture
def api(backend: Settings) -> Iterator[tuple[Container, TestClient[Any]]]:
    """The API process: it runs projectors, not the import worker."""
    container = bootstrap(backend, hasher=FAST_HASHER)
    container.workers.remove(container.services["import_worker"])
    try:
        with TestClient(create_app(container, run_background=True)) as client:
            yield container, client
    finally:
        container.close()


def errors(log: Path) -> str:
    found = log.with_suffix(".err")
    return found.read_text()[-3000:] if found.exists() else ""


def opened(log: Path) -> list[tuple[int, str]]:
    return [(int(p), k) for p, k in (line.split() for line in log.read_text().splitlines())]


def test_a_worker_killed_mid_import_is_resumed_by_another_that_commits_once(
    backend: Settings, api: tuple[Container, TestClient[Any]], tmp_path: Path
) -> None:
    container, client = api
    bucket = new_bucket(OBJECTS)
    connectors = FakeConnectors()
    connector = connectors.add(BotoSource(bucket), "src/")
    container.services["connectors"] = connectors
    repo: Repo = new_repo(container, client)
    log = tmp_path / "opened.log"
    first = start_worker(backend, connector, bucket, log, tmp_path / "ready-1")
    second = None
    try:
        job_id = started(repo, {"connector_id": connector, "destination_path": "in/"})
        deadline = time.monotonic() + 60
        while (now := job_status(repo, job_id))["objects_imported"] < 15:
            assert now["status"] in ("running", "pending"), (now.get("error"), now, errors(log))
            assert time.monotonic() < deadline, (now, errors(log))
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        done = container.applications["imports"].job(job_id)
        assert done.status == "running" and 15 <= done.objects_imported < COUNT
        checkpoint = done.checkpoint
        second = start_worker(backend, connector, bucket, log, tmp_path / "ready-2")
        status = wait_job(repo, job_id, timeout=120)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    assert status["status"] == "completed", status
    assert status["objects_imported"] == COUNT
    reads = opened(log)
    by_second = {k for pid, k in reads if pid == second.pid}
    # Finished objects were not copied again: the second worker started after the checkpoint.
    assert by_second and min(by_second) > checkpoint
    assert {k for _, k in reads} == set(OBJECTS)
    [commit] = repo.log()["results"]
    assert commit["id"] == status["commit_id"]
    listed = repo.objects(prefix="in/", amount=1000)["results"]
    assert [r["path"] for r in listed] == [f"in/{k.removeprefix('src/')}" for k in OBJECTS]
    for key in ("src/000.bin", checkpoint, "src/059.bin"):
        assert repo.read(f"in/{key.removeprefix('src/')}") == OBJECTS[key]
