"""Inline projections: views written in the event-append transaction (the catalog).

They never lag, so they have no runner and no tracking. Rebuilding one replays its
application's whole log into fresh tables inside one transaction that blocks new appends.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent

from infra.projections.tables import drop_or_empty
from infra.sql.database import Database
from projections.base import View

VERSIONS_TABLE = "projection_versions"
PAGE = 2000


class InlineProjection:
    """One inline view of one application, stored in that application's database."""

    def __init__(self, view: View, app: Application[Any], db: Database) -> None:
        self.view = view
        self.app = app
        self.db = db
        self.app_name = next(iter(view.follows))

    def install(self) -> None:
        """Create the tables (rebuilding them if the view's version changed) and hook the
        view into the application's appends."""
        with self.db.transaction() as cur:
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {VERSIONS_TABLE} ("
                " projection TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            row = cur.execute(
                f"SELECT version FROM {VERSIONS_TABLE} WHERE projection = ?", (self.view.name,)
            ).fetchone()
        if row is None or row["version"] != self.view.version:
            self.rebuild(current=False)
        view = self.view

        def project(cursor: Any, events: list[Any]) -> None:
            for event in events:
                view.apply(cursor, event)

        self.app.inline_projection = project  # type: ignore[attr-defined]

    def status(self) -> dict[str, Any]:
        head = self.app.recorder.max_notification_id() or 0
        return {
            "projection": self.view.name,
            "application": self.app_name,
            "position": head,
            "head": head,
            "lag": 0,
            "active_here": True,
            "inline": True,
        }

    def rebuild(self, *, current: bool = True) -> dict[str, Any]:
        """Drop the tables (or empty them: `drop_or_empty`, when the view's version is
        `current`) and replay the log, appends blocked meanwhile (one transaction)."""
        started = time.monotonic()
        count = 0
        with self.db.transaction() as cur:
            if self.db.dialect == "postgresql":
                existing = [
                    t
                    for t in self.view.tables
                    if cur.execute("SELECT to_regclass(?) AS t", (t,)).fetchone()["t"]
                ]
                if existing:
                    cur.execute(f"LOCK TABLE {', '.join(existing)} IN ACCESS EXCLUSIVE MODE")
                cur.execute(f"LOCK TABLE {self.app_name}_events IN EXCLUSIVE MODE")
            drop_or_empty(cur, self.db.dialect, self.view.tables, empty_small=current)
            for statement in self.view.create_statements(self.db.dialect):
                cur.execute(statement)
            for event in self._events(cur):
                self.view.apply(cur, event)
                count += 1
            cur.execute(
                f"INSERT INTO {VERSIONS_TABLE} (projection, version) VALUES (?, ?)"
                " ON CONFLICT (projection) DO UPDATE SET version = excluded.version",
                (self.view.name, self.view.version),
            )
        return {
            "projection": self.view.name,
            "events": count,
            "seconds": time.monotonic() - started,
        }

    def _events(self, cur: Any) -> Any:
        """Every event of the application in log order, read through the open transaction."""
        if self.db.dialect == "postgresql":
            table, position = f"{self.app_name}_events", "notification_id"
        else:
            table, position = "stored_events", "rowid"
        mapper = self.app.mapper
        last = 0
        while True:
            rows = cur.execute(
                f"SELECT {position} AS position, originator_id, originator_version, topic,"
                f" state FROM {table} WHERE {position} > ? ORDER BY {position} LIMIT ?",
                (last, PAGE),
            ).fetchall()
            for row in rows:
                originator = row["originator_id"]
                stored = StoredEvent(
                    originator_id=originator
                    if isinstance(originator, UUID)
                    else UUID(str(originator)),
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                yield mapper.to_domain_event(stored)
            if len(rows) < PAGE:
                return
            last = rows[-1]["position"]
