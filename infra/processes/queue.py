"""JobQueue: claims, leases, completion and failure records over `process_jobs`.

Many worker processes share one queue. A claim marks due jobs with the worker's id and a
lease; on PostgreSQL the candidate rows are locked `FOR UPDATE SKIP LOCKED`, so concurrent
claimers take disjoint jobs without waiting on each other; on SQLite `BEGIN IMMEDIATE`
serializes claimers (one writer at a time, across processes too). A worker heartbeats its
leases while it works; a killed worker stops heartbeating and its jobs return to the queue
when the lease runs out. A job is claimable only when no earlier job of its key is unfinished,
so a parked job holds back its own key and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog

from application.processes import Job
from domain.shared.values import iso, utcnow
from infra.metrics import Metrics
from infra.sql.database import Database
from projections.processes import JOBS_TABLE, REDO_KIND, enqueue, failures

log = structlog.get_logger("tilde.processes")

CLAIMABLE = (
    f"SELECT j.id FROM {JOBS_TABLE} j WHERE j.process = ? AND j.done_at IS NULL"
    " AND NOT j.parked AND j.next_attempt_at <= ? AND (j.kind = ?) = ?"
    " AND (j.lease_until IS NULL OR j.lease_until < ?)"
    f" AND NOT EXISTS (SELECT 1 FROM {JOBS_TABLE} e WHERE e.process = j.process"
    " AND e.key = j.key AND e.done_at IS NULL"
    " AND (e.position < j.position OR (e.position = j.position AND e.idx < j.idx)))"
    " ORDER BY j.position, j.idx LIMIT ?"
)


def _job(row: dict[str, Any]) -> Job:
    return Job(row["id"], row["key"], row["kind"], json.loads(row["payload"]))


class JobQueue:
    """The queue of one process manager's jobs as one worker sees it."""

    def __init__(
        self,
        db: Database,
        process: str,
        metrics: Metrics,
        *,
        clock: Callable[[], datetime] = utcnow,
        lease: float = 30.0,
        max_attempts: int = 8,
        base_delay: float = 5.0,
        max_delay: float = 3600.0,
    ) -> None:
        self.db = db
        self.process = process
        self.metrics = metrics
        self.clock = clock
        self.lease = lease
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay

    def _now(self) -> datetime:
        return self.clock()

    def claim(self, worker: str, limit: int = 10, *, redo: bool = False) -> list[Job]:
        """Due jobs no other live worker holds, leased to `worker` (oldest first): effects,
        or with `redo` the events whose handling failed (the process's projector redoes)."""
        now = self._now()
        at, until = iso(now), iso(now + timedelta(seconds=self.lease))
        lock = " FOR UPDATE OF j SKIP LOCKED" if self.db.dialect == "postgresql" else ""
        with self.db.transaction() as cur:
            ids = [
                r["id"]
                for r in cur.execute(
                    CLAIMABLE + lock, (self.process, at, REDO_KIND, redo, at, limit)
                ).fetchall()
            ]
            if not ids:
                return []
            marks = ",".join("?" * len(ids))
            cur.execute(
                f"UPDATE {JOBS_TABLE} SET claimed_by = ?, lease_until = ?"
                f" WHERE process = ? AND id IN ({marks})",
                (worker, until, self.process, *ids),
            )
            rows = cur.execute(
                f"SELECT * FROM {JOBS_TABLE} WHERE process = ? AND id IN ({marks})"
                " ORDER BY position, idx",
                (self.process, *ids),
            ).fetchall()
        return [_job(r) for r in rows]

    def heartbeat(self, worker: str, ids: Sequence[str]) -> None:
        """Extend the leases `worker` still holds (a taken-over job is not taken back)."""
        if not ids:
            return
        until = iso(self._now() + timedelta(seconds=self.lease))
        marks = ",".join("?" * len(ids))
        with self.db.transaction() as cur:
            cur.execute(
                f"UPDATE {JOBS_TABLE} SET lease_until = ? WHERE process = ? AND claimed_by = ?"
                f" AND done_at IS NULL AND id IN ({marks})",
                (until, self.process, worker, *ids),
            )

    def complete(self, worker: str, job: Job, also: Sequence[tuple[Job, int]] = ()) -> None:
        """Mark `job` done (and queue `also`, the jobs a re-handled event produced)."""
        with self.db.transaction() as cur:
            row = cur.execute(
                f"SELECT position, created_at, last_error FROM {JOBS_TABLE}"
                " WHERE process = ? AND id = ?",
                (self.process, job.id),
            ).fetchone()
            for extra, idx in also:
                assert row is not None
                enqueue(cur, self.process, extra, row["position"], idx, row["created_at"])
            cur.execute(
                f"UPDATE {JOBS_TABLE} SET done_at = ?, claimed_by = ?, lease_until = NULL,"
                " attempts = attempts + 1 WHERE process = ? AND id = ? AND done_at IS NULL",
                (iso(self._now()), worker, self.process, job.id),
            )
        if row is not None and row["last_error"] is not None:
            self._count_failures()

    def fail(self, worker: str, job: Job, error: str) -> bool:
        """Record a failed attempt: retried after an exponential backoff, parked after
        `max_attempts`. Whether the job is parked now. A worker whose lease ran out (another
        took the job over) records nothing: the job is no longer its to release."""
        now = self._now()
        with self.db.transaction() as cur:
            row = cur.execute(
                f"SELECT attempts FROM {JOBS_TABLE} WHERE process = ? AND id = ?",
                (self.process, job.id),
            ).fetchone()
            attempts = (int(row["attempts"]) if row else 0) + 1
            parked = attempts >= self.max_attempts
            delay = min(self.max_delay, self.base_delay * 2 ** min(attempts - 1, 20))
            cur.execute(
                f"UPDATE {JOBS_TABLE} SET attempts = ?, last_error = ?, next_attempt_at = ?,"
                " parked = ?, claimed_by = NULL, lease_until = NULL"
                " WHERE process = ? AND id = ? AND done_at IS NULL AND claimed_by = ?",
                (attempts, error[:500], iso(now + timedelta(seconds=delay)), parked,
                 self.process, job.id, worker),
            )  # fmt: skip
        log.error(
            "process_job_parked" if parked else "process_job_failed",
            process=self.process,
            job=job.id,
            key=job.key,
            kind=job.kind,
            attempts=attempts,
            error=error[:500],
            worker=worker,
        )
        self._count_failures()
        return parked

    def retry(self, ids: Sequence[str] = (), *, everything: bool = False) -> int:
        """Make failed jobs (parked ones included) due now, attempts reset; how many."""
        if not ids and not everything:
            return 0
        where = "" if everything else f" AND id IN ({','.join('?' * len(ids))})"
        with self.db.transaction() as cur:
            cur.execute(
                f"UPDATE {JOBS_TABLE} SET parked = ?, attempts = 0, next_attempt_at = ?,"
                " lease_until = NULL WHERE process = ? AND done_at IS NULL"
                f" AND last_error IS NOT NULL{where}",
                (False, iso(self._now()), self.process, *([] if everything else ids)),
            )
            count = int(cur.rowcount)
        self._count_failures()
        return count

    def failures(self) -> list[dict[str, Any]]:
        return failures(self.db, self.process)

    def _count_failures(self) -> None:
        row = self.db.query_one(
            "SELECT COUNT(*) AS n FROM process_failures WHERE process = ?", (self.process,)
        )
        self.metrics.process_failures.labels(self.process).set(int(row["n"]) if row else 0)
