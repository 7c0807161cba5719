"""OutboxSender: delivers queued emails at least once, with backoff on failure."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from application.ports import Mailer
from domain.shared.values import iso
from infra.metrics import Metrics
from infra.projections.locks import InstanceLock
from infra.sql.database import Database
from projections.outbox import message_of, pending

log = structlog.get_logger("tilde.mail")
MAX_BACKOFF = timedelta(hours=1)


class OutboxSender:
    """One active sender per deployment (instance lock); idempotent per message id."""

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
        self.db = db
        self.mailer = mailer
        self.metrics = metrics
        self.lock = lock
        self.clock = clock
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="outbox-sender", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.lock.release()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self.lock.try_acquire():
                self._stop.wait(1.0)
                continue
            self._wake.clear()
            try:
                sent = self.send_due()
            except Exception:
                log.exception("outbox_failed")
                sent = 0
            if not sent:
                self._wake.wait(self.poll_interval)

    def send_due(self) -> int:
        """Deliver up to one batch of due messages (the loop calls again while some remain);
        the number delivered."""
        delivered = 0
        now = self.clock()
        for row in pending(self.db, iso(now) or ""):
            try:
                self.mailer.send(message_of(row))
            except Exception as e:  # any delivery failure is retried later
                attempts = int(row["attempts"]) + 1
                delay = min(MAX_BACKOFF, timedelta(seconds=5 * 2 ** min(attempts, 12)))
                with self.db.transaction() as cur:
                    cur.execute(
                        "UPDATE outbox SET attempts = ?, last_error = ?,"
                        " next_attempt_at = ? WHERE id = ?",
                        (attempts, str(e)[:500], iso(now + delay), row["id"]),
                    )
                log.warning("email_delivery_failed", message_id=row["id"], attempts=attempts)
                continue
            with self.db.transaction() as cur:
                cur.execute(
                    "UPDATE outbox SET sent_at = ?, attempts = attempts + 1"
                    " WHERE id = ? AND sent_at IS NULL",
                    (iso(now), row["id"]),
                )
            delivered += 1
            self.metrics.emails_sent.inc()
            log.info("email_sent", message_id=row["id"], kind=row["headers"])
        return delivered
