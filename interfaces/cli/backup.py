"""`tilde-server backup DIR` / `restore DIR`: the embedded mode's online backup and restore."""

from __future__ import annotations

from pathlib import Path

import click

from infra import backup as snapshots
from interfaces.cli.common import data_dir_option, settings_from

_FLEET = (
    "backup/restore cover the embedded mode (SQLite + local blobs); with PostgreSQL or S3 use "
    "pg_dump or PITR and bucket versioning (README: Backups)"
)


def _embedded_data_dir(data_dir: Path | None) -> Path:
    settings = settings_from(data_dir, role="cli")
    if settings.database_url or settings.blob_store != "local":
        raise click.ClickException(_FLEET)
    return settings.data_dir


@click.command()
@data_dir_option
@click.argument("target", type=click.Path(path_type=Path))
def backup(data_dir: Path | None, target: Path) -> None:
    """Copy the data directory into TARGET (empty) while the server keeps serving."""
    try:
        manifest = snapshots.backup(_embedded_data_dir(data_dir), target)
    except snapshots.BackupError as e:
        raise click.ClickException(str(e)) from None
    click.echo(
        f"backed up {len(manifest.databases)} databases and {manifest.blobs} blobs to {target}"
    )
    if manifest.missing_blobs:
        # Garbage collection removed them after the snapshot: they held only expired data.
        click.echo(
            f"warning: {len(manifest.missing_blobs)} blobs the snapshot names were collected "
            "meanwhile (listed in manifest.json)",
            err=True,
        )


@click.command()
@data_dir_option
@click.argument("source", type=click.Path(path_type=Path, exists=True, file_okay=False))
def restore(data_dir: Path | None, source: Path) -> None:
    """Restore a backup from SOURCE into an empty data directory (server stopped)."""
    try:
        manifest = snapshots.restore(source, _embedded_data_dir(data_dir))
    except snapshots.BackupError as e:
        raise click.ClickException(str(e)) from None
    click.echo(
        f"restored the backup of {manifest.created_at}: {len(manifest.databases)} databases; "
        "views catch up with the log when the server starts"
    )
