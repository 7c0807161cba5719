"""`tilde-server projections status|rebuild|failures|retry`."""

from __future__ import annotations

from pathlib import Path

import click

from interfaces.cli.common import cli_container, data_dir_option, echo_json


@click.group()
def projections() -> None:
    """Inspect and rebuild read models."""


@projections.command()
@data_dir_option
@click.option("--json", "as_json", is_flag=True)
def status(data_dir: Path | None, as_json: bool) -> None:
    """Position and lag of every projector."""
    with cli_container(data_dir) as container:
        rows = container.projections.status()
        for row in rows:
            if as_json:
                echo_json(row)
            else:
                click.echo(
                    f"{row['projection']:<16} {row['application']:<14} "
                    f"position={row['position']:<10} head={row['head']:<10} "
                    f"lag={row['lag']}"
                )


@projections.command()
@data_dir_option
@click.argument("names", nargs=-1)
def rebuild(data_dir: Path | None, names: tuple[str, ...]) -> None:
    """Drop and rebuild read models from the event log (all rebuildable ones by default)."""
    with cli_container(data_dir) as container:
        for row in container.projections.rebuild(list(names)):
            rate = row["events"] / row["seconds"] if row["seconds"] else 0
            click.echo(
                f"rebuilt {row['projection']:<16} {row['events']} events in "
                f"{row['seconds']:.2f}s ({rate:,.0f} events/s)"
            )


@projections.command()
@data_dir_option
@click.option("--json", "as_json", is_flag=True)
def failures(data_dir: Path | None, as_json: bool) -> None:
    """Process-manager jobs that failed: retrying (with backoff) or parked."""
    with cli_container(data_dir) as container:
        rows = container.projections.failures()
        for row in rows:
            if as_json:
                echo_json(row)
            else:
                state = "parked" if row["parked"] else f"next={row['next_attempt_at']}"
                click.echo(
                    f"{row['process']:<12} {row['id']:<40} key={row['key']} "
                    f"attempts={row['attempts']} {state} error={row['last_error']}"
                )
        if not rows and not as_json:
            click.echo("no failures")


@projections.command()
@data_dir_option
@click.argument("ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every failed or parked job.")
def retry(data_dir: Path | None, ids: tuple[str, ...], everything: bool) -> None:
    """Make failed or parked process-manager jobs due now (attempts start over)."""
    if not ids and not everything:
        raise click.UsageError("name the job ids to retry, or pass --all")
    with cli_container(data_dir) as container:
        count = container.projections.retry(list(ids), everything=everything)
        click.echo(f"{count} job(s) due again")
