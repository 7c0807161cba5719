"""ProjectorRunner: folds new events into one view in batched, tracked transactions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from eventsourcing.application import Application

from infra.metrics import Metrics
from infra.processes.loop import WorkerLoop
from infra.processes.queue import JobQueue
from infra.processes.redo import redo_due
from infra.processes.worker import worker_id
from infra.projections.locks import InstanceLock
from infra.sql.database import Database
from projections.base import View
from projections.processes import ProcessView

log = structlog.get_logger("tilde.projections")
TRACKING_TABLE = "projection_tracking"
VIEWS_CHANNEL = "tilde_views"
# How often a process manager's runner looks for failed events due for another try.
REDO_EVERY = 1.0
# Steps of at most this many events send their statements together (one round trip).
BATCH_STATEMENTS = 64


class LostTracking(Exception):
    """Another instance moved this view's position: reload and continue."""


def read_positions(db: Database, view: str) -> dict[str, int]:
    rows = db.query(
        f"SELECT application, position FROM {TRACKING_TABLE} WHERE projection = ?",
        (view,),
    )
    return {r["application"]: int(r["position"]) for r in rows}


class ProjectorRunner:
    """Runs one view: while it holds the view's instance lock it applies new events, up to
    `batch_size` events or `batch_seconds` per transaction, and writes the view's rows and
    its tracking position in that same transaction (exactly once)."""

    def __init__(
        self,
        view: View,
        apps: Mapping[str, Application[Any]],
        db: Database,
        lock: InstanceLock,
        metrics: Metrics,
        *,
        batch_size: int = 500,
        batch_seconds: float = 0.02,
        poll_interval: float = 0.05,
    ) -> None:
        self.view = view
        self.apps = {name: apps[name] for name in view.follows}
        self.db = db
        self.lock = lock
        self.metrics = metrics
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.poll_interval = poll_interval
        self.positions: dict[str, int] = {}
        # Positions as last written to the tracking table. A batch with no event of interest
        # advances `positions` in memory only (nothing to write), and is persisted with the next
        # applied batch or once `persist_every` seconds have passed: notifications about other
        # views' events (every save wakes every runner) then cost no transaction.
        self._persisted: dict[str, int] = {}
        self._persisted_at: dict[str, float] = {}
        self.persist_every = 5.0
        self._topics = {name: view.topics(name) for name in self.apps}
        self._topic_sets = {name: frozenset(t) for name, t in self._topics.items()}
        self._folds_batches = view.folds_batches()
        self._cond = threading.Condition()
        # Serializes batches (and position reloads) of the loop thread with callers of
        # `catch_up` in the same process: both would fold the same events otherwise.
        self._step_lock = threading.RLock()
        self._behind = False  # the last step stopped short of the head it read
        self._last_reload = 0.0
        # A process manager's runner also re-handles events whose handling failed.
        self.redo_queue = (
            JobQueue(db, view.name, metrics) if isinstance(view, ProcessView) else None
        )
        self._last_redo = 0.0
        self.worker_id = worker_id()
        self.loop = WorkerLoop(
            f"projector-{view.name}",
            self._loop_step,
            lock=lock,
            idle=poll_interval,
            on_active=self.reload,
            on_error=self.reload,
            on_idle=self._reload_now_and_then,
            expected=(LostTracking,),
        )
        # Called (view name) after each committed batch: caches built on views listen here.
        self.on_advanced: list[Callable[[str], None]] = []

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether this process runs the view now (holds its lock, positions loaded)."""
        return self.loop.active

    @active.setter
    def active(self, value: bool) -> None:
        self.loop.active = value

    @property
    def running(self) -> bool:
        """Whether this process started the runner (active, or standby for its lock)."""
        return self.loop.running

    def start(self) -> None:
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()
        if self.active:
            try:
                self.flush()
            except Exception:  # the next start re-scans from the stored position
                log.warning("projector_flush_failed", projection=self.view.name, exc_info=True)
        self.active = False
        self.lock.release()
        with self._cond:
            self._cond.notify_all()

    def wake(self) -> None:
        self.loop.wake()

    def _loop_step(self) -> bool:
        """One batch; whether more is due at once (the step stopped short of its head).
        Caught up, an event committed since wakes the loop (the saving thread here, NOTIFY
        from elsewhere), else the poll does."""
        processed = self.step()
        if self.redo_queue is not None and time.monotonic() - self._last_redo >= REDO_EVERY:
            self._last_redo = time.monotonic()
            self.redo_due()
        return processed > 0 and self._behind

    def redo_due(self) -> int:
        """Re-handle due events whose handling failed (process managers only)."""
        if self.redo_queue is None or not isinstance(self.view, ProcessView):
            return 0
        return redo_due(self.redo_queue, self.view, self.apps, self.worker_id)

    def _reload_now_and_then(self) -> None:
        """Notice a rebuild started by another process (it resets our position)."""
        if time.monotonic() - self._last_reload > 1.0:
            self.reload()
            self._last_reload = time.monotonic()

    def reload(self) -> None:
        with self._step_lock:
            stored = read_positions(self.db, self.view.name)
            with self._cond:
                for name in self.apps:
                    # A row nobody moved keeps what we skipped past without writing.
                    if stored.get(name, 0) != self._persisted.get(name):
                        self.positions[name] = stored.get(name, 0)
                        self._wrote(name, self.positions[name])
                self._cond.notify_all()

    # -- work -----------------------------------------------------------------------------
    def topic_set(self, application: str) -> frozenset[str]:
        return self._topic_sets[application]

    def catch_up(self) -> int:
        """Apply everything available now (used by rebuilds and tests); events processed.
        Throughput matters here, not latency: full batches, no per-transaction time cap."""
        if not self.positions:
            self.reload()
        total = 0
        size = max(self.batch_size, 5000)
        while (n := self.step(batch_seconds=3600.0, batch_size=size, persist=True)) > 0:
            total += n
        self.flush()
        return total

    def flush(self) -> None:
        """Write positions advanced in memory only (past events of no interest)."""
        with self._step_lock:
            ahead = {
                name: position
                for name, position in self.positions.items()
                if position > self._persisted.get(name, 0)
            }
            if not ahead:
                return
            with self.db.transaction() as cur:
                for name, position in ahead.items():
                    self._move_tracking(cur, name, position)
            for name, position in ahead.items():
                self._wrote(name, position)

    def _move_tracking(self, cur: Any, name: str, position: int) -> None:
        """Compare-and-set of the stored position: another instance moving it since we last
        wrote (a rebuild, a second runner) fails the transaction with LostTracking."""
        cur.execute(
            f"UPDATE {TRACKING_TABLE} SET position = ? WHERE projection = ?"
            " AND application = ? AND position = ? RETURNING position",
            (position, self.view.name, name, self._persisted.get(name, 0)),
        )
        if cur.fetchone() is None:
            raise LostTracking(self.view.name)

    def _wrote(self, name: str, position: int) -> None:
        self._persisted[name] = position
        self._persisted_at[name] = time.monotonic()

    def _write_due(self, name: str, now: float) -> bool:
        return now - self._persisted_at.get(name, 0.0) >= self.persist_every

    def step(
        self,
        batch_seconds: float | None = None,
        batch_size: int | None = None,
        *,
        persist: bool = False,
    ) -> int:
        """One batch per followed application; the number of log positions advanced.
        `persist` writes the position even when no event of interest was found."""
        advanced = 0
        with self._step_lock:
            self._behind = False
            for name, app in self.apps.items():
                advanced += self._step_app(
                    name,
                    app,
                    batch_seconds or self.batch_seconds,
                    batch_size or self.batch_size,
                    persist,
                )
        return advanced

    def _step_app(
        self,
        name: str,
        app: Application[Any],
        batch_seconds: float,
        batch_size: int,
        persist: bool,
    ) -> int:
        position = self.positions.get(name, 0)
        head = app.recorder.max_notification_id() or 0
        labels = (self.view.name, name)
        if head <= position:
            self.metrics.projector_lag.labels(*labels).set(0)
            if position > self._persisted.get(name, 0) and self._write_due(name, time.monotonic()):
                self.flush()  # idle: write what was skipped in memory
            return 0
        notes = app.recorder.select_notifications(
            start=position + 1, limit=batch_size, stop=head, topics=self._topics[name]
        )
        now = time.monotonic()
        deadline = now + batch_seconds
        applied = 0
        new_position = head if len(notes) < batch_size else notes[-1].id
        if not notes and not persist and not self._write_due(name, now):
            return self._advanced(name, labels, position, new_position, head, 0)
        planned: list[tuple[int, Any, list[Any]]] = []
        if isinstance(self.view, ProcessView):
            # A process manager's `handle` may take its time: run it before the transaction,
            # so a slow one never holds the write lock (SQLite has one for every view).
            for note in notes:
                event = app.mapper.to_domain_event(note)
                planned.append((note.id, event, self.view.plan(name, note.id, event)))
                if len(planned) < len(notes) and time.monotonic() > deadline:
                    new_position = note.id
                    break
        # A live step's few statements go out in one round trip; a catch-up's thousands are
        # pipelined, so the server works through them while the next ones are bound here.
        # A view folding whole batches sends a few statements whatever the batch's size (its
        # rows by COPY, which pipeline mode does not allow): held and sent together when
        # the batch is small, else one by one.
        few = len(planned or notes) <= BATCH_STATEMENTS
        pipeline = not few and not self._folds_batches
        with self.db.transaction(batch=few, pipeline=pipeline) as cur:
            if isinstance(self.view, ProcessView):  # jobs keep their event's position
                for position_of, event, jobs in planned:
                    self.view.queue(cur, position_of, event, jobs)
                applied = len(planned)
            elif self._folds_batches:  # one pass over the whole batch, in memory first
                self.view.apply_all(cur, [app.mapper.to_domain_event(n) for n in notes])
                applied = len(notes)
            else:
                for note in notes:
                    self.view.apply(cur, app.mapper.to_domain_event(note))
                    applied += 1
                    if applied < len(notes) and time.monotonic() > deadline:
                        new_position = note.id  # time cap: the rest goes in the next transaction
                        break
            self._move_tracking(cur, name, new_position)
            if applied and self.db.dialect == "postgresql":
                # Delivered at commit: other processes drop caches built on this view.
                cur.execute("SELECT pg_notify(?, ?)", (VIEWS_CHANNEL, self.view.name))
        self._wrote(name, new_position)
        if applied:
            for callback in self.on_advanced:
                callback(self.view.name)
        return self._advanced(name, labels, position, new_position, head, applied)

    def _advanced(
        self,
        name: str,
        labels: tuple[str, str],
        position: int,
        new_position: int,
        head: int,
        applied: int,
    ) -> int:
        with self._cond:
            self.positions[name] = new_position
            self._cond.notify_all()
        self._behind = self._behind or new_position < head
        self.metrics.events_projected.labels(*labels).inc(applied)
        self.metrics.projector_position.labels(*labels).set(new_position)
        self.metrics.projector_lag.labels(*labels).set(max(0, head - new_position))
        return max(1, new_position - position)

    def wait_until(self, application: str, position: int, timeout: float) -> bool:
        """Block until this (active) runner has folded `position` of `application`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.positions.get(application, 0) < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.active:
                    return self.positions.get(application, 0) >= position
                self._cond.wait(remaining)
        return True
