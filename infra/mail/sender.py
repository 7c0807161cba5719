"""OutboxSender: delivers the email jobs of the outbox process manager."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from application.ports import Mailer
from application.processes import Job
from infra.metrics import Metrics
from infra.processes.queue import JobQueue
from infra.processes.worker import JobWorker
from infra.projections.locks import InstanceLock
from infra.sql.database import Database
from projections.outbox import EMAIL, message_of

log = structlog.get_logger("tilde.mail")


class OutboxSender(JobWorker):
    """A job worker for `email` jobs; every worker process may run one (claims never
    overlap). The job id is the Message-ID (and the mailbox file name): a delivery repeated
    after a killed worker is the same email, which receivers drop."""

    def __init__(
        self,
        db: Database,
        mailer: Mailer,
        metrics: Metrics,
        lock: InstanceLock,
        clock: Callable[[], datetime],
        *,
        poll_interval: float = 0.5,
    ) -> None:
        self.mailer = mailer
        self.metrics = metrics
        super().__init__(
            # An SMTP outage of a few hours is waited out before a message is parked.
            JobQueue(db, "outbox", metrics, clock=clock, max_attempts=12),
            {EMAIL: self._send},
            presence=lock,
            poll_interval=poll_interval,
        )

    @property
    def lock(self) -> InstanceLock:
        """Held by some live sender (`/health`)."""
        assert self.presence is not None
        return self.presence

    def _send(self, job: Job) -> None:
        self.mailer.send(message_of(job))
        self.metrics.emails_sent.inc()
        log.info("email_sent", message_id=job.id, kind=job.payload.get("headers"))

    def send_due(self) -> int:
        """Deliver up to one batch of due messages; the number delivered."""
        return self.run_due()
