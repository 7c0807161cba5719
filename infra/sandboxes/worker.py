"""SandboxWorker: a pool of slots running claimed sandboxes, sharing one queue with workers on
other hosts (each sandbox runs exactly once: the queue's lease, renewed while it runs)."""

from __future__ import annotations

import threading

import structlog

from application.processes import Job
from application.sandboxes.runner import SandboxRunner
from infra.processes.loop import WorkerLoop
from infra.processes.queue import JobQueue
from infra.processes.worker import worker_id

log = structlog.get_logger("tilde.sandboxes")


class SandboxWorker:
    """Claims up to `slots` sandbox runs at a time and runs each on its own thread while a
    heartbeat keeps their leases. A killed worker stops heartbeating: after the lease another
    worker claims the run again and its runner re-attaches or marks the sandbox lost."""

    def __init__(
        self, queue: JobQueue, runner: SandboxRunner, slots: int, *, poll_interval: float = 0.2
    ) -> None:
        self.queue = queue
        self.runner = runner
        self.slots = slots
        self.id = worker_id()
        self.active: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._beat_stop = threading.Event()
        self._beat: threading.Thread | None = None
        self.loop = WorkerLoop("sandbox-worker", self._step, idle=poll_interval)

    def start(self) -> None:
        if self.slots <= 0:
            return
        self._beat_stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, name="sandbox-leases", daemon=True)
        self._beat.start()
        self.loop.start()

    def stop(self) -> None:
        """Stop claiming; running sandboxes are abandoned, not killed: their containers keep
        running and the next worker to claim them re-attaches."""
        self.loop.stop()
        self.runner.abandon.set()
        with self._lock:
            threads = list(self.active.values())
        for thread in threads:
            thread.join(timeout=5)
        self._beat_stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)

    def wake(self) -> None:
        self.loop.wake()

    def _step(self) -> bool:
        with self._lock:
            free = self.slots - len(self.active)
        if free <= 0:
            return False
        jobs = self.queue.claim(self.id, free)
        for job in jobs:
            thread = threading.Thread(
                target=self._run, args=(job,), name=f"sandbox-{job.key[:8]}", daemon=True
            )
            with self._lock:
                self.active[job.id] = thread
            thread.start()
        return bool(jobs)

    def _run(self, job: Job) -> None:
        try:
            self.runner.run(str(job.payload["sandbox_id"]), self.id)
            if not self.runner.abandon.is_set():
                self.queue.complete(self.id, job)
        except Exception as e:  # recorded on the job; retried with backoff, then parked
            log.exception("sandbox_run_failed", job=job.id)
            self.queue.fail(self.id, job, f"{type(e).__name__}: {e}")
        finally:
            with self._lock:
                self.active.pop(job.id, None)
            self.loop.wake()

    def _heartbeat(self) -> None:
        while not self._beat_stop.wait(self.queue.lease / 3):
            with self._lock:
                ids = list(self.active)
            try:
                self.queue.heartbeat(self.id, ids)
            except Exception:  # a lapse means another worker may take over: runs re-attach
                log.warning("sandbox_heartbeat_failed", exc_info=True)
