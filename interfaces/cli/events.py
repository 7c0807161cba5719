"""`tilde-server events tail|show`: read the raw event streams, newest first, as JSON lines."""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import click
from eventsourcing.application import Application

from domain.shared.redaction import event_data
from interfaces.cli.common import cli_container, data_dir_option, echo_json

PAGE = 200
# Raw events keep who acted and where (filters read organization_id).
_SCOPE = frozenset({"organization_id", "actor_type", "actor_id"})


def event_record(app_name: str, event: Any, notification_id: int | None) -> dict[str, Any]:
    """A JSON-ready view of one event, redacted by the audit rule."""
    data = event_data(event, keep=_SCOPE)
    return {
        "application": app_name,
        "notification_id": notification_id,
        "stream_id": str(event.originator_id),
        "version": event.originator_version,
        "type": type(event).__qualname__,
        "timestamp": event.timestamp.isoformat(),
        "data": data,
    }


def newest_first(app_name: str, app: Application[Any]) -> Iterator[dict[str, Any]]:
    high = app.recorder.max_notification_id() or 0
    while high > 0:
        low = max(1, high - PAGE + 1)
        notes = app.recorder.select_notifications(start=low, limit=PAGE, stop=high)
        for note in reversed(notes):
            yield event_record(app_name, app.mapper.to_domain_event(note), note.id)
        high = low - 1


def matches(record: dict[str, Any], kind: str | None, org: str | None) -> bool:
    if kind and not (record["type"] == kind or record["type"].endswith("." + kind)):
        return False
    return not (org and record["data"].get("organization_id") != org)


@click.group()
def events() -> None:
    """Read the event log."""


@events.command()
@data_dir_option
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events")
@click.option("--type", "kind", default=None, help="Event type, e.g. User.SignedUp or SignedUp")
@click.option("--org", default=None, help="Only events of this organization (slug or id)")
@click.option("--limit", "-n", type=int, default=50, show_default=True)
def tail(
    data_dir: Path | None, follow: bool, kind: str | None, org: str | None, limit: int
) -> None:
    """The latest events across every application, newest first."""
    with cli_container(data_dir) as container:
        org_id = container.resolve_organization(org) if org else None
        apps = container.applications
        heads = {name: app.recorder.max_notification_id() or 0 for name, app in apps.items()}
        merged = heapq.merge(
            *(newest_first(n, a) for n, a in apps.items()),
            key=lambda r: r["timestamp"],
            reverse=True,
        )
        shown = 0
        for record in merged:
            if shown >= limit:
                break
            if matches(record, kind, org_id):
                echo_json(record)
                shown += 1
        while follow:
            time.sleep(0.5)
            for name, app in apps.items():
                notes = app.recorder.select_notifications(start=heads[name] + 1, limit=PAGE)
                for note in notes:
                    record = event_record(name, app.mapper.to_domain_event(note), note.id)
                    if matches(record, kind, org_id):
                        echo_json(record)
                    heads[name] = note.id


@events.command()
@data_dir_option
@click.argument("stream_id")
def show(data_dir: Path | None, stream_id: str) -> None:
    """Every event of one stream (aggregate), newest first."""
    try:
        originator = UUID(stream_id)
    except ValueError:
        raise click.BadParameter("STREAM_ID must be a UUID") from None
    with cli_container(data_dir) as container:
        for name, app in container.applications.items():
            stored = app.recorder.select_events(originator, desc=True)
            for item in stored:
                echo_json(event_record(name, app.mapper.to_domain_event(item), None))
            if stored:
                return
        raise click.ClickException(f"no stream {stream_id}")
