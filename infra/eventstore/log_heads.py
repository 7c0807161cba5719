"""The event store as the log watch's source: the watched logs' heads, and which event types
were appended between two positions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eventsourcing.application import Application

# Beyond this many new events a check does not read their types: it just invalidates.
TOPICS_READ_LIMIT = 200


class EventStoreLogs:
    """`LogSource` over applications by name (applications and logs are looked up on each
    read, so the watch can be built before the applications that use it)."""

    def __init__(self, apps: Mapping[str, Application[Any]], logs: Sequence[str]) -> None:
        self.apps = apps
        self.logs = logs

    def heads(self) -> dict[str, int]:
        return {log: self.apps[log].recorder.max_notification_id() or 0 for log in self.logs}

    def topics(self, log: str, after: int, upto: int) -> frozenset[str] | None:
        if upto - after > TOPICS_READ_LIMIT:
            return None
        notes = self.apps[log].recorder.select_notifications(
            start=after + 1, limit=upto - after, stop=upto
        )
        return frozenset(n.topic for n in notes)
