"""Re-handles events whose `handle` failed at fold time (jobs of kind `event`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from eventsourcing.application import Application

from infra.processes.queue import JobQueue
from projections.processes import ProcessView


def redo_due(
    queue: JobQueue, view: ProcessView, apps: Mapping[str, Application[Any]], worker: str
) -> int:
    """Handle each due failed event again: its jobs are queued and it is done, or the failure
    is recorded (backoff, then parked). Events handled."""
    done = 0
    for job in queue.claim(worker, 10, redo=True):
        try:
            app = apps[job.payload["application"]]
            version = int(job.payload["version"])
            events = list(
                app.events.get(uuid.UUID(job.payload["originator_id"]), gt=version - 1, lte=version)
            )
            if not events:
                raise LookupError(f"event {job.id} is not in the log")
            jobs = list(view.process.handle(events[0]))
        except Exception as e:  # still poison: the queue backs off, then parks it
            queue.fail(worker, job, f"{type(e).__name__}: {e}")
            continue
        queue.complete(worker, job, [(j, i + 1) for i, j in enumerate(jobs)])
        done += 1
    return done
