"""`tilde-server audit ORG [--until TIME]`: replay an organization's history from the log."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from application.audit import AuditReplay
from domain.shared.values import parse_iso
from interfaces.cli.common import cli_container, data_dir_option, echo_json


@click.command()
@data_dir_option
@click.argument("org")
@click.option("--until", default=None, help="RFC 3339 time: show the state as it stood then")
@click.option("--json", "as_json", is_flag=True, help="One JSON document")
@click.option("--no-history", is_flag=True, help="Only the state, not the event history")
def audit(
    data_dir: Path | None, org: str, until: str | None, as_json: bool, no_history: bool
) -> None:
    """Who did what to which resource when, and members/groups/policies at --until."""
    try:
        moment = parse_iso(until) if until else None
    except ValueError:
        raise click.BadParameter("--until must be an RFC 3339 time") from None
    with cli_container(data_dir) as container:
        report = AuditReplay(container.identity, container.organizations).replay(org, moment)
        if no_history:
            report.history = []
        if as_json:
            echo_json(dataclasses.asdict(report))
            return
        o = report.organization
        click.echo(
            f"organization {o['name']} ({o['display_name']}) id={o['id']}"
            + (" [deleted]" if o["deleted"] else "")
            + (f" as of {until}" if until else "")
        )
        for line in report.history:
            click.echo(
                f"{line['at']}  {line['actor_type']}:{line['actor']:<16} "
                f"{line['event']:<28} {line['resource_id']}  {line['data']}"
            )
        click.echo(f"\nmembers ({len(report.members)}):")
        for m in report.members:
            click.echo(f"  {m['username']:<24} joined {m['joined_at']}")
        click.echo(f"groups ({len(report.groups)}):")
        for g in report.groups:
            click.echo(f"  {g['name']:<24} {', '.join(g['members']) or '-'}")
        click.echo(f"policies ({len(report.policies)}):")
        for p in report.policies:
            flag = " (built-in)" if p["is_builtin"] else ""
            click.echo(f"  {p['name'] + flag:<24} -> {', '.join(p['attached_to']) or '-'}")
        click.echo(f"roles: {', '.join(report.roles) or '-'}")
        click.echo(f"agents: {', '.join(a['name'] for a in report.agents) or '-'}")
