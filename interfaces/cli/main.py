"""`tilde-server`: serve, worker, users, projections, events."""

from __future__ import annotations

import click

from interfaces.cli.audit import audit
from interfaces.cli.backup import backup, restore
from interfaces.cli.events import events
from interfaces.cli.gc import gc
from interfaces.cli.projections import projections
from interfaces.cli.secrets import secrets
from interfaces.cli.serve import serve, worker
from interfaces.cli.trash import organizations, repositories
from interfaces.cli.users import users


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="tilde-server")
def cli() -> None:
    """tilde-server: a self-hostable Tilde platform server."""


cli.add_command(serve)
cli.add_command(worker)
cli.add_command(users)
cli.add_command(projections)
cli.add_command(events)
cli.add_command(audit)
cli.add_command(gc)
cli.add_command(backup)
cli.add_command(restore)
cli.add_command(organizations)
cli.add_command(repositories)
cli.add_command(secrets)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
