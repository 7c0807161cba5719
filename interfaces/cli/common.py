"""Helpers shared by CLI commands: settings with flag overrides, a settled container, JSON."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import click

from domain.shared.errors import DomainError
from infra.bootstrap import Container, bootstrap
from infra.logging import configure_logging
from infra.settings import Settings


def settings_from(data_dir: Path | None = None, **overrides: Any) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)


def settle_views(container: Container, timeout: float = 60.0) -> None:
    """Bring read models up to the log's head before a CLI query reads them."""
    manager = container.projections
    for runner in manager.runners.values():
        if runner.lock.try_acquire():
            try:
                runner.reload()
                runner.catch_up()
            finally:
                runner.lock.release()
        else:  # a running server owns the view: wait for it to reach the head
            deadline = time.monotonic() + timeout
            for app_name, app in runner.apps.items():
                head = app.recorder.max_notification_id() or 0
                manager._poll(runner.view.name, app_name, head, deadline)


@contextmanager
def cli_container(data_dir: Path | None, *, settle: bool = False) -> Iterator[Container]:
    configure_logging("WARNING", "console")
    container = bootstrap(settings_from(data_dir, role="cli"))
    try:
        if settle:
            settle_views(container)
        yield container
    except DomainError as e:
        click.echo(f"error: {e.message}", err=True)
        sys.exit(1)
    finally:
        container.close()


def to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, default=to_json, sort_keys=False))


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Data directory (default: $TILDE_DATA_DIR or ./tilde-data)",
)
