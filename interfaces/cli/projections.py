"""`tilde-server projections status|rebuild`."""

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
