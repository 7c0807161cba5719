"""ProjectionManager: schemas and versions of views, their runners, status, rebuild, waiting."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from eventsourcing.application import Application

from application.base import Written
from domain.shared.errors import Invalid
from infra.metrics import Metrics
from infra.processes.queue import JobQueue
from infra.projections.inline import InlineProjection
from infra.projections.locks import InstanceLock
from infra.projections.runner import TRACKING_TABLE, ProjectorRunner, read_positions
from infra.projections.tables import drop_or_empty
from infra.sql.database import Database
from projections.base import View
from projections.processes import ProcessView, failures

VERSIONS_TABLE = "projection_versions"
# How often a read-your-writes wait re-checks that the view it waits for still has an owner.
OWNER_CHECK_SECONDS = 0.05


class ProjectionManager:
    """Owns every view of the server and the runner that keeps each one current."""

    def __init__(
        self,
        views: Sequence[View],
        apps: Mapping[str, Application[Any]],
        db: Database,
        metrics: Metrics,
        lock_factory: Callable[[str], InstanceLock],
        *,
        batch_size: int = 500,
        batch_seconds: float = 0.02,
        poll_interval: float = 0.05,
        inline: Sequence[InlineProjection] = (),
    ) -> None:
        self.views = {v.name: v for v in views}
        self.inline = {p.view.name: p for p in inline}
        self.apps = apps
        self.db = db
        self.runners = {
            v.name: ProjectorRunner(
                v,
                apps,
                db,
                lock_factory(f"projector:{v.name}"),
                metrics,
                batch_size=batch_size,
                batch_seconds=batch_seconds,
                poll_interval=poll_interval,
            )
            for v in views
        }
        self.queues = {
            v.name: JobQueue(db, v.name, metrics) for v in views if isinstance(v, ProcessView)
        }
        self.started = False

    # -- schema ---------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create tracking tables and every view; rebuild views whose version changed."""
        with self.db.transaction() as cur:
            self._serialize_ddl(cur)
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {TRACKING_TABLE} ("
                " projection TEXT NOT NULL, application TEXT NOT NULL,"
                " position BIGINT NOT NULL, PRIMARY KEY (projection, application))"
            )
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {VERSIONS_TABLE} ("
                " projection TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            versions = {
                r["projection"]: r["version"]
                for r in cur.execute(f"SELECT projection, version FROM {VERSIONS_TABLE}").fetchall()
            }
            reset = []
            for view in self.views.values():
                # Process-manager state (the outbox) remembers side effects: a new version
                # migrates additively (CREATE … IF NOT EXISTS), it is never dropped.
                if versions.get(view.name) != view.version and (
                    view.rebuildable or view.name not in versions
                ):
                    self._reset(cur, view)
                    reset.append(view.name)
                else:
                    migrate = getattr(view, "migrate", None)
                    if migrate is not None:  # process state moves, it is never dropped
                        migrate(cur, self.db.dialect)
                    if versions.get(view.name) != view.version:
                        cur.execute(
                            f"UPDATE {VERSIONS_TABLE} SET version = ? WHERE projection = ?",
                            (view.version, view.name),
                        )
                    for statement in view.create_statements(self.db.dialect):
                        cur.execute(statement)
                    for app in view.follows:
                        cur.execute(
                            f"INSERT INTO {TRACKING_TABLE} (projection, application,"
                            " position) VALUES (?, ?, 0) ON CONFLICT DO NOTHING",
                            (view.name, app),
                        )
        for name in reset:  # a runner must not keep folding from its pre-reset position
            self.runners[name].reload()

    def _serialize_ddl(self, cur: Any) -> None:
        if self.db.dialect == "postgresql":
            cur.execute("SELECT pg_advisory_xact_lock(7361928)")

    def _reset(self, cur: Any, view: View, *, empty_small: bool = False) -> None:
        """Drop (or, in a rebuild, empty when small: `drop_or_empty`) and recreate a view's
        tables and start its tracking over (one transaction)."""
        drop_or_empty(cur, self.db.dialect, view.tables, empty_small=empty_small)
        for statement in view.create_statements(self.db.dialect):
            cur.execute(statement)
        cur.execute(f"DELETE FROM {TRACKING_TABLE} WHERE projection = ?", (view.name,))
        for app in view.follows:
            # A process manager new to a log with history starts at its head: past events
            # must not launch side effects again (mail, sandboxes) after an upgrade/restore.
            start = 0 if view.waits_for_reads else self.apps[app].recorder.max_notification_id()
            cur.execute(
                f"INSERT INTO {TRACKING_TABLE} (projection, application, position)"
                " VALUES (?, ?, ?)",
                (view.name, app, start or 0),
            )
        cur.execute(
            f"INSERT INTO {VERSIONS_TABLE} (projection, version) VALUES (?, ?)"
            " ON CONFLICT (projection) DO UPDATE SET version = excluded.version",
            (view.name, view.version),
        )

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        for runner in self.runners.values():
            runner.start()
        self.started = True

    def stop(self) -> None:
        for runner in self.runners.values():
            runner.stop()
        self.started = False

    def wake(self, application: str, topics: frozenset[str] | None = None) -> None:
        """Wake the runners following `application` (only those interested in `topics`, when
        the caller knows which event types it just appended)."""
        for runner in self.runners.values():
            if application in runner.apps and (
                topics is None or topics & runner.topic_set(application)
            ):
                runner.wake()

    # -- read-your-writes -----------------------------------------------------------------
    def interested(self, written: Written) -> list[ProjectorRunner]:
        """Runners whose view follows any event type in `written` and serves reads (never a
        process manager's: a write's latency excludes its side effects)."""
        return [
            r
            for r in self.runners.values()
            if r.view.waits_for_reads
            and written.application in r.apps
            and (not written.topics or written.topics & set(r.view.topics(written.application)))
        ]

    def would_wait(self, written: Iterable[Written]) -> bool:
        """Whether `wait(written)` has any view to wait for (it may still return at once)."""
        return any(w.position > 0 and self.interested(w) for w in written)

    def wait(self, written: Iterable[Written], timeout: float = 5.0) -> bool:
        """Block until every view depending on these writes has folded them. False on timeout,
        or at once when a view has no live projector anywhere (no worker): nobody would
        advance it, so the write answers now and the view catches up when a worker returns."""
        deadline = time.monotonic() + timeout
        for w in written:
            if w.position <= 0:
                continue
            for runner in self.interested(w):
                remaining = max(0.0, deadline - time.monotonic())
                if not runner.active and runner.running:
                    # Started here but its first lock attempt is undecided (start-up): an
                    # owner is coming, so "no live owner" must not be concluded yet.
                    runner.loop.settled.wait(remaining)
                    remaining = max(0.0, deadline - time.monotonic())
                if runner.active and runner.wait_until(w.application, w.position, remaining):
                    continue
                if not self._poll(
                    runner.view.name, w.application, w.position, deadline, owner=runner.lock
                ):
                    return False
        return True

    def _poll(
        self,
        view: str,
        application: str,
        position: int,
        deadline: float,
        *,
        owner: InstanceLock | None = None,
    ) -> bool:
        """Another process runs this view: poll its tracking row every 1-2 ms (while `owner`,
        when given, says some process holds the view's lock)."""
        sleep = 0.001
        owner_checked = -float("inf")
        while True:
            if read_positions(self.db, view).get(application, 0) >= position:
                return True
            now = time.monotonic()
            if now >= deadline:
                return False
            if owner is not None and now - owner_checked >= OWNER_CHECK_SECONDS:
                if not owner.has_owner():
                    return False
                owner_checked = now
            time.sleep(sleep)
            sleep = min(0.002, sleep * 2)

    # -- operations -----------------------------------------------------------------------
    def status(self) -> list[dict[str, Any]]:
        rows = []
        heads = {name: app.recorder.max_notification_id() or 0 for name, app in self.apps.items()}
        for name, view in self.views.items():
            positions = read_positions(self.db, name)
            for app in view.follows:
                head = heads[app]
                position = positions.get(app, 0)
                rows.append(
                    {
                        "projection": name,
                        "application": app,
                        "position": position,
                        "head": head,
                        "lag": max(0, head - position),
                        "active_here": self.runners[name].active,
                    }
                )
        rows.extend(p.status() for p in self.inline.values())
        return rows

    def select(self, names: Sequence[str], *, rebuilding: bool = False) -> list[View]:
        """The named views (all by default); for a rebuild, only rebuildable ones."""
        unknown = [n for n in names if n not in self.views and n not in self.inline]
        if unknown:
            raise Invalid(
                f"unknown projection(s): {', '.join(unknown)}; "
                f"known: {', '.join(sorted(self.views))}"
            )
        chosen = (
            [self.views[n] for n in names if n in self.views]
            if names
            else list(self.views.values())
        )
        if not rebuilding:
            return chosen
        kept = [v.name for v in chosen if not v.rebuildable]
        if names and kept:
            # Dropping process-manager state would repeat its side effects (re-send email).
            raise Invalid(
                f"{', '.join(kept)} cannot be rebuilt: it records side effects already performed"
            )
        return [v for v in chosen if v.rebuildable]

    def rebuild(
        self, names: Sequence[str] = (), *, wait_timeout: float = 600.0
    ) -> list[dict[str, Any]]:
        """Drop and rebuild views from position 0; returns events and seconds per view (its
        share of the one transaction that resets them all, then its own fold)."""
        report = [p.rebuild() for n, p in self.inline.items() if not names or n in names]
        views = self.select(names, rebuilding=True)
        started = time.monotonic()
        # One transaction (one commit, one WAL flush) empties every chosen view: most views
        # of a log are small, and their DDL's commit would otherwise cost more than their fold.
        with self.db.transaction() as cur:
            self._serialize_ddl(cur)
            for view in views:
                self._reset(cur, view, empty_small=True)
        reset_share = (time.monotonic() - started) / max(1, len(views))
        for view in views:
            runner = self.runners[view.name]
            started = time.monotonic() - reset_share
            heads = {
                app: self.apps[app].recorder.max_notification_id() or 0 for app in view.follows
            }
            if runner.lock.try_acquire():
                runner.reload()
                runner.catch_up()
                if not self.started:
                    runner.lock.release()
            else:  # the active instance elsewhere notices the reset and rebuilds
                deadline = time.monotonic() + wait_timeout
                for app, head in heads.items():
                    self._poll(view.name, app, head, deadline)
            report.append(
                {
                    "projection": view.name,
                    "events": sum(heads.values()),
                    "seconds": time.monotonic() - started,
                }
            )
        return report

    # -- process managers -----------------------------------------------------------------
    def failures(self) -> list[dict[str, Any]]:
        """Process-manager jobs that failed and are not done (retrying or parked)."""
        return failures(self.db) if self.queues else []

    def retry(self, ids: Sequence[str] = (), *, everything: bool = False) -> int:
        """Make failed (or parked) jobs due now; how many."""
        return sum(q.retry(ids, everything=everything) for q in self.queues.values())

    def catch_up(self, names: Sequence[str] = ()) -> int:
        """Synchronously fold everything available into the chosen views (CLI, tests)."""
        total = 0
        for view in self.select(names):
            total += self.runners[view.name].catch_up()
        return total
