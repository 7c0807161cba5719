"""JobWorker: performs a process manager's jobs, sharing the queue with workers elsewhere."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import structlog

from application.processes import Job, Perform
from infra.processes.loop import WorkerLoop
from infra.processes.queue import JobQueue
from infra.projections.locks import InstanceLock

log = structlog.get_logger("tilde.processes")


def worker_id() -> str:
    """Names the claimer in `process_jobs.claimed_by` (host, pid, a nonce for restarts)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JobWorker:
    """Claims due jobs, performs each by kind while a heartbeat keeps its lease, and records
    the outcome. Any number of processes run one: claims never overlap. `presence` is only
    reported (`/health` says degraded when no process holds it), it does not gate the work."""

    def __init__(
        self,
        queue: JobQueue,
        perform: Mapping[str, Perform],
        *,
        presence: InstanceLock | None = None,
        poll_interval: float = 0.5,
        batch: int = 10,
    ) -> None:
        self.queue = queue
        self.perform = dict(perform)
        self.presence = presence
        self.batch = batch
        self.id = worker_id()
        self.loop = WorkerLoop(f"jobs-{queue.process}", self._step, idle=poll_interval)

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()
        if self.presence is not None:
            self.presence.release()

    def wake(self) -> None:
        self.loop.wake()

    def _step(self) -> bool:
        if self.presence is not None:
            self.presence.try_acquire()
        return self.run_due() > 0

    def run_due(self) -> int:
        """Perform up to `batch` due jobs; jobs done. Claims again after each round: a job
        done may have released the next one of its key."""
        done = attempted = 0
        while attempted < self.batch and not self.loop.stopping:
            jobs = self.queue.claim(self.id, self.batch - attempted)
            if not jobs:
                break
            for job in jobs:
                if self.loop.stopping:
                    break  # the rest returns to the queue when its lease ends
                attempted += 1
                done += self.run(job)
        return done

    def run(self, job: Job) -> int:
        """Perform one claimed job: 1 when done, 0 when it failed (recorded for a retry)."""
        perform = self.perform.get(job.kind)
        try:
            if perform is None:
                raise LookupError(f"no performer for jobs of kind {job.kind!r}")
            with self._heartbeat(job):
                perform(job)
        except Exception as e:  # any failure is recorded, retried with backoff, then parked
            self.queue.fail(self.id, job, f"{type(e).__name__}: {e}")
            return 0
        self.queue.complete(self.id, job)
        return 1

    @contextmanager
    def _heartbeat(self, job: Job) -> Iterator[None]:
        """Extend the job's lease every third of it while `perform` runs."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.queue.lease / 3):
                try:
                    self.queue.heartbeat(self.id, [job.id])
                except Exception:  # the lease may lapse: the job is idempotent
                    log.warning("process_heartbeat_failed", job=job.id, exc_info=True)

        thread = threading.Thread(target=beat, name=f"heartbeat-{job.id[:16]}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(timeout=5)
