"""Folds the views authorization reads up to the log head from the serving process itself, so
access decisions never rest on rows that only a (slow, stopped or killed) worker advances."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence

import psycopg

from domain.shared.errors import Unavailable
from infra.projections.runner import LostTracking, ProjectorRunner, read_positions
from infra.sql.database import Database

# What a fold that lost to another instance folding the same events raises: the loser's
# transaction rolls back and the tracking row tells who won.
LOST_RACE = (LostTracking, psycopg.IntegrityError, psycopg.errors.DeadlockDetected)
LOST_RACE_SQLITE = (sqlite3.IntegrityError,)


class ViewsCatchUp:
    """Makes the runners' views current with their logs' heads, as read when called.

    A view this process runs is folded at once. One run elsewhere gets `grace` seconds (a
    live worker folds within milliseconds of NOTIFY); after that this process folds the
    missing events itself, through the same runner code and tracking row, so a rebuild yields
    the same tables and the tracking compare-and-set keeps every event applied once even
    beside a live runner."""

    def __init__(
        self,
        runners: Sequence[ProjectorRunner],
        db: Database,
        *,
        grace: float = 0.15,
        attempts: int = 5,
    ) -> None:
        self.runners = list(runners)
        self.db = db
        self.grace = grace
        self.attempts = attempts
        self._lock = threading.Lock()

    def __call__(self) -> None:
        heads: dict[str, int] = {}
        for runner in self.runners:
            for name, app in runner.apps.items():
                if name not in heads:
                    heads[name] = app.recorder.max_notification_id() or 0
                self._ensure(runner, name, heads[name])

    def pending(self, runner: ProjectorRunner, name: str, head: int) -> bool:
        """Whether the view has not folded an event of interest at or below `head`."""
        if runner.active:  # run here: its memory is what is committed
            position = runner.positions.get(name, 0)
        else:
            position = read_positions(self.db, runner.view.name).get(name, 0)
        if position >= head:
            return False
        # Positions advance lazily past events of no interest: only interesting ones count.
        return bool(
            runner.apps[name].recorder.select_notifications(
                start=position + 1, limit=1, stop=head, topics=runner.view.topics(name)
            )
        )

    def _ensure(self, runner: ProjectorRunner, name: str, head: int) -> None:
        if not runner.active and self._wait(runner, name, head):
            return
        for _ in range(self.attempts):
            if not self.pending(runner, name, head):
                return
            try:
                self._fold(runner, name, head)
                return
            except LOST_RACE + LOST_RACE_SQLITE:
                runner.reload()  # another instance folded some of it: look again
        raise Unavailable("authorization data is catching up; retry shortly", retry_after=1)

    def _wait(self, runner: ProjectorRunner, name: str, head: int) -> bool:
        """Give the instance running the view `grace` seconds; whether it caught up."""
        deadline = time.monotonic() + self.grace
        sleep = 0.001
        while self.pending(runner, name, head):
            if time.monotonic() >= deadline:
                return False
            time.sleep(sleep)
            sleep = min(0.01, sleep * 2)
        return True

    def _fold(self, runner: ProjectorRunner, name: str, head: int) -> None:
        with self._lock:
            if not runner.active:
                runner.reload()  # start from the stored position, not a stale memory of it
            while runner.positions.get(name, 0) < head:
                if runner.step(batch_seconds=1.0, batch_size=5000) == 0:
                    return
