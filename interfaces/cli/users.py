"""`tilde-server users …`: list, approve, create-admin."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from domain.shared.values import Actor
from interfaces.cli.common import cli_container, data_dir_option, echo_json, settle_views
from projections.identity.users import list_users


@click.group()
def users() -> None:
    """Manage user accounts."""


@users.command("list")
@data_dir_option
@click.option("--pending", is_flag=True, help="Only signups waiting for approval")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line")
def list_(data_dir: Path | None, pending: bool, as_json: bool) -> None:
    """List users (by username)."""
    with cli_container(data_dir, settle=True) as container:
        after = ""
        while True:
            rows = list_users(
                container.db, status="pending" if pending else None, after=after, amount=500
            )
            for row in rows:
                if as_json:
                    echo_json(row)
                else:
                    flag = " (admin)" if row["is_admin"] else ""
                    click.echo(
                        f"{row['username']:<24} {row['status']:<8} {row['email']:<32} "
                        f"{row['created_at']}{flag}"
                    )
            if len(rows) < 500:
                break
            after = rows[-1]["username"]


@users.command()
@data_dir_option
@click.argument("name")
def approve(data_dir: Path | None, name: str) -> None:
    """Approve a pending signup by username, email or id (the user gets an email)."""
    with cli_container(data_dir) as container:
        user = container.identity.approve(name, Actor.operator()).value
        settle_views(container)
        click.echo(f"approved {user.username} <{user.email}>")


@users.command("create-admin")
@data_dir_option
@click.option("--username", required=True)
@click.option("--email", required=True)
@click.option("--full-name", default="Administrator", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input")
def create_admin(
    data_dir: Path | None, username: str, email: str, full_name: str, password_stdin: bool
) -> None:
    """Create the first operator (or promote an existing user to operator)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with cli_container(data_dir) as container:
        user = container.identity.create_admin(
            username=username, email=email, full_name=full_name, password=password
        ).value
        settle_views(container)
        click.echo(f"operator {user.username} is ready (status {user.status})")
