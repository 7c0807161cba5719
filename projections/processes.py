"""ProcessView: folds a process manager's jobs into the shared `process_jobs` queue.

The fold runs in a projector's tracked transaction, so each event's jobs are queued exactly
once; job ids come from the event, so a replay queues nothing new. A `handle` that raises does
not stall the fold: the event is queued as a job of kind `event` that a worker re-handles with
backoff (a poison event is parked there), holding back later jobs of its key only.
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from application.processes import Job, ProcessManager
from domain.shared.values import iso
from projections.base import Cursor, Reader, View

log = structlog.get_logger("tilde.processes")
JOBS_TABLE = "process_jobs"
# A job whose `handle` failed at fold time: the worker loads the event and handles it again.
REDO_KIND = "event"


def jobs_ddl(dialect: str) -> list[str]:
    """The queue every process manager shares (idempotent DDL)."""
    false = "FALSE" if dialect == "postgresql" else "0"
    return [
        f"CREATE TABLE IF NOT EXISTS {JOBS_TABLE} ("
        " process TEXT NOT NULL, id TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL,"
        " payload TEXT NOT NULL, position BIGINT NOT NULL, idx INTEGER NOT NULL,"
        " created_at TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
        " next_attempt_at TEXT NOT NULL, last_error TEXT,"
        f" parked BOOLEAN NOT NULL DEFAULT {false}, claimed_by TEXT, lease_until TEXT,"
        " done_at TEXT, PRIMARY KEY (process, id))",
        f"CREATE INDEX IF NOT EXISTS {JOBS_TABLE}_due ON {JOBS_TABLE}"
        " (process, done_at, next_attempt_at)",
        f"CREATE INDEX IF NOT EXISTS {JOBS_TABLE}_key ON {JOBS_TABLE}"
        " (process, key, position, idx)",
        # What `tilde-server projections failures` lists: failed, not (yet) done.
        "CREATE VIEW IF NOT EXISTS process_failures AS SELECT process, id, position, key, kind,"
        " attempts, last_error, next_attempt_at, parked FROM process_jobs"
        " WHERE done_at IS NULL AND last_error IS NOT NULL"
        if dialect != "postgresql"
        else "CREATE OR REPLACE VIEW process_failures AS SELECT process, id, position, key,"
        " kind, attempts, last_error, next_attempt_at, parked FROM process_jobs"
        " WHERE done_at IS NULL AND last_error IS NOT NULL",
    ]


def enqueue(
    cur: Cursor, process: str, job: Job, position: int, idx: int, at: str, error: str | None = None
) -> None:
    """Queue `job` unless a job of that id is already there (a replay, a second worker)."""
    cur.execute(
        f"INSERT INTO {JOBS_TABLE} (process, id, key, kind, payload, position, idx,"
        " created_at, attempts, next_attempt_at, last_error) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (process, id) DO NOTHING",
        (process, job.id, job.key, job.kind, json.dumps(job.payload, sort_keys=True), position,
         idx, at, 1 if error else 0, at, error),
    )  # fmt: skip


def redo_job(application: str, event: Any, key: str) -> Job:
    """The job that re-handles `event` later (its id names the event, so it is queued once)."""
    return Job(
        id=f"{REDO_KIND}:{application}:{event.originator_id}:{event.originator_version}",
        key=key,
        kind=REDO_KIND,
        payload={
            "application": application,
            "originator_id": str(event.originator_id),
            "version": event.originator_version,
        },
    )


class ProcessView(View):
    """A process manager's side of the log: queued jobs (never rebuilt, never waited on)."""

    rebuildable = False
    # Read-your-writes never waits on side effects: a commit's latency excludes them.
    waits_for_reads = False
    # The queue is shared: nothing here may be dropped when one process is (re)created.
    tables = ()

    def __init__(self, process: ProcessManager) -> None:
        self.process = process

    def create_statements(self, dialect: str) -> list[str]:
        return jobs_ddl(dialect)

    def apply(self, cur: Cursor, event: Any) -> None:
        self.apply_at(cur, "", 0, event)

    def apply_at(self, cur: Cursor, application: str, position: int, event: Any) -> None:
        """Queue `event`'s jobs at its log position (jobs of one key run in that order)."""
        self.queue(cur, position, event, self.plan(application, position, event))

    def plan(self, application: str, position: int, event: Any) -> list[tuple[Job, str | None]]:
        """`event`'s jobs, each with the error that makes it a redo job (None when handled);
        no I/O on the view, so the runner calls it outside its transaction."""
        key = self.process.key_of(event)
        try:
            return [(job, None) for job in self.process.handle(event)]
        except Exception as e:  # a poison event: retried (then parked) by a worker
            error = f"{type(e).__name__}: {e}"[:500]
            log.error(
                "process_handle_failed",
                process=self.name,
                application=application,
                position=position,
                key=key,
                error=error,
            )
            return [(redo_job(application, event, key), error)]

    def queue(
        self, cur: Cursor, position: int, event: Any, jobs: list[tuple[Job, str | None]]
    ) -> None:
        """Write planned jobs in the projector's transaction."""
        at = iso(event.timestamp) or ""
        for idx, (job, error) in enumerate(jobs):
            enqueue(cur, self.name, job, position, idx, at, error)


def failures(db: Reader, process: str | None = None) -> list[dict[str, Any]]:
    """Failed jobs not done yet (retrying or parked), oldest first."""
    where, params = ("WHERE process = ?", (process,)) if process else ("", ())
    return db.query(
        f"SELECT * FROM process_failures {where} ORDER BY process, position, key", params
    )
