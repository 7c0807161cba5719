"""`tilde-server gc`: apply retention and delete what nothing references, now."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from application.trash import Trash
from interfaces.cli.common import cli_container, data_dir_option, echo_json


@click.command()
@data_dir_option
@click.option("--json", "as_json", is_flag=True)
def gc(data_dir: Path | None, as_json: bool) -> None:
    """Expire entry versions beyond retention, close abandoned sessions, purge organizations
    and repositories deleted longer ago than TILDE_DELETED_RETENTION_DAYS, delete
    unreferenced blobs and stale multipart uploads."""
    with cli_container(data_dir) as container:
        report = container.service("trash", Trash).collect()
        if as_json:
            echo_json(dataclasses.asdict(report))
            return
        click.echo(f"entry versions expired: {report.entry_versions_expired_up_to or 'none'}")
        click.echo(f"sessions rolled back:   {report.sessions_rolled_back}")
        click.echo(f"organizations purged:   {report.organizations_purged}")
        click.echo(f"repositories purged:    {report.repositories_purged}")
        click.echo(f"blobs deleted:          {report.blobs_deleted} (kept {report.blobs_kept})")
        click.echo(f"multipart aborted:      {report.multiparts_aborted}")
