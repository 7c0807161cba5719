"""Many workers share one job queue: claims never overlap, and a worker killed mid-job loses
its claim when the lease runs out, so another completes the job, exactly once in effect."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from application.processes import Job
from infra.metrics import Metrics
from infra.processes.queue import JobQueue
from infra.settings import Settings
from infra.sql.database import Database
from projections.processes import enqueue, jobs_ddl
from tests.process_worker import EFFECTS_DDL, PROCESS, database

ROOT = Path(__file__).resolve().parents[2]


def target(settings: Settings) -> tuple[str, str]:
    if settings.is_postgres:
        return "postgresql", settings.database_url
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return "sqlite", str(settings.data_dir / "views.sqlite")


@pytest.fixture
def db(backend: Settings) -> Iterator[Database]:
    store = database(*target(backend))
    with store.transaction() as cur:
        for statement in [*jobs_ddl(store.dialect), EFFECTS_DDL]:
            cur.execute(statement)
    yield store
    store.close()


def queue_jobs(db: Database, count: int, *, kind: str = "effect") -> list[str]:
    ids = [f"job-{i}" for i in range(count)]
    with db.transaction() as cur:
        for i, job_id in enumerate(ids):
            job = Job(job_id, f"key-{i}", kind, {})
            enqueue(cur, PROCESS, job, i + 1, 0, "2000-01-01T00:00:00.000000Z")
    return ids


def test_concurrent_claimers_take_disjoint_jobs(db: Database) -> None:
    ids = queue_jobs(db, 60)
    claimed: dict[str, list[str]] = {"a": [], "b": [], "c": []}

    def claim(worker: str) -> None:
        queue = JobQueue(db, PROCESS, Metrics(), lease=30)
        while jobs := queue.claim(worker, 3):
            claimed[worker].extend(j.id for j in jobs)

    threads = [threading.Thread(target=claim, args=(w,)) for w in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    everything = [job_id for jobs in claimed.values() for job_id in jobs]
    assert sorted(everything) == sorted(ids)  # each job claimed by exactly one worker
    owners = db.query(f"SELECT id, claimed_by FROM process_jobs WHERE process = '{PROCESS}'")
    assert all(r["claimed_by"] in claimed for r in owners)


def wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def start_worker(settings: Settings, work: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.process_worker", *target(settings), str(work)],
        cwd=str(ROOT),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_a_job_whose_worker_is_killed_mid_job_is_completed_by_another_exactly_once(
    backend: Settings, db: Database, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    workers = [start_worker(backend, work) for _ in range(2)]
    try:
        wait(lambda: len(list(work.glob("ready-*"))) == 2, 30, "workers did not start")
        [job_id] = queue_jobs(db, 1)
        wait(lambda: list(work.glob("started-*")), 15, "no worker took the job")
        [first] = [int(p.name.split("-")[1]) for p in work.glob("started-*")]
        (work / "release").touch()
        # The first worker performed the effect; it dies before it can mark the job done.
        wait(lambda: db.query("SELECT id FROM killtest_effects"), 15, "no effect")
        os.kill(first, signal.SIGKILL)
        killed = next(w for w in workers if w.pid == first)
        killed.wait(10)
        (work / "finish").touch()
        row = db.query_one("SELECT done_at FROM process_jobs WHERE id = ?", (job_id,))
        assert row is not None and row["done_at"] is None

        def done() -> bool:
            job = db.query_one("SELECT done_at FROM process_jobs WHERE id = ?", (job_id,))
            return job is not None and job["done_at"] is not None

        wait(done, 20, "the surviving worker did not complete the job after the lease ran out")
        [survivor] = [w.pid for w in workers if w.pid != first]
        assert {p.name for p in work.glob("started-*")} == {
            f"started-{first}",
            f"started-{survivor}",
        }
        job = db.query_one("SELECT claimed_by, attempts FROM process_jobs WHERE id = ?", (job_id,))
        assert job is not None and f":{survivor}:" in job["claimed_by"]
        # Performed twice, one effect: the idempotency key is the job id.
        effects = db.query("SELECT id, pid FROM killtest_effects")
        assert effects == [{"id": job_id, "pid": first}]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait(10)
