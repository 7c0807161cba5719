"""A job-worker process for the kill test: performs `effect` jobs of the process `killtest`.

`python -m tests.process_worker sqlite|postgresql PATH_OR_URL DIR`. A job writes
`DIR/started-<pid>`, waits for `DIR/release`, records its effect under the job id (the
idempotency key), then waits for `DIR/finish` before it returns: a kill between the two is a
worker that performed the effect but never said so.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from application.processes import Job
from infra.metrics import Metrics
from infra.processes.queue import JobQueue
from infra.processes.worker import JobWorker
from infra.sql.database import Database, PostgresDatabase, SqliteDatabase

PROCESS = "killtest"
LEASE = 1.5
EFFECTS_DDL = "CREATE TABLE IF NOT EXISTS killtest_effects (id TEXT PRIMARY KEY, pid INTEGER)"


def database(dialect: str, where: str) -> Database:
    if dialect == "postgresql":
        return PostgresDatabase(where, pool_size=3)
    return SqliteDatabase(where)


def wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.02)


def main(dialect: str, where: str, folder: str) -> None:
    db = database(dialect, where)
    work = Path(folder)

    def effect(job: Job) -> None:
        (work / f"started-{os.getpid()}").touch()
        wait_for(work / "release")
        with db.transaction() as cur:  # the effect, idempotent per job id
            cur.execute(
                "INSERT INTO killtest_effects (id, pid) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                (job.id, os.getpid()),
            )
        wait_for(work / "finish")

    queue = JobQueue(db, PROCESS, Metrics(), lease=LEASE)
    worker = JobWorker(queue, {"effect": effect}, poll_interval=0.05)
    (work / f"ready-{os.getpid()}").touch()
    worker.start()
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
