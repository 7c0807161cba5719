"""`tilde-server organizations …` and `repositories …`: list, list --deleted, restore."""

from __future__ import annotations

from pathlib import Path

import click

from application.trash import Deleted, Trash
from domain.shared.errors import Invalid
from domain.shared.values import Actor, iso
from interfaces.cli.common import cli_container, data_dir_option, echo_json, settle_views
from projections.catalog.repositories import list_repositories
from projections.organizations.organizations import live_organizations

JSON = click.option("--json", "as_json", is_flag=True, help="One JSON object per line")
DELETED = click.option(
    "--deleted",
    is_flag=True,
    help="Deleted ones that can still be restored, with when garbage collection purges them",
)


def _echo_deleted(items: list[Deleted], as_json: bool) -> None:
    for item in items:
        name = f"{item.organization}/{item.repository}" if item.repository else item.organization
        if as_json:
            echo_json(
                {
                    "name": name,
                    "id": item.id,
                    "deleted_at": iso(item.deleted_at),
                    "purge_after": iso(item.purge_after),
                }
            )
        else:
            click.echo(
                f"{name:<40} deleted {iso(item.deleted_at)}  purged after {iso(item.purge_after)}"
            )


@click.group()
def organizations() -> None:
    """Organizations: list them, and restore deleted ones."""


@organizations.command("list")
@data_dir_option
@DELETED
@JSON
def list_organizations(data_dir: Path | None, deleted: bool, as_json: bool) -> None:
    """List organizations (by name)."""
    with cli_container(data_dir, settle=True) as container:
        if deleted:
            items = container.service("trash", Trash).deleted()
            _echo_deleted([i for i in items if not i.repository], as_json)
            return
        for row in live_organizations(container.db):
            if as_json:
                echo_json(row)
            else:
                click.echo(f"{row['name']:<40} {row['id']}  created {row['created_at']}")


@organizations.command("restore")
@data_dir_option
@click.argument("name")
def restore_organization(data_dir: Path | None, name: str) -> None:
    """Restore the deleted organization NAME (members, groups, policies, roles, agents);
    restore its repositories one by one afterwards."""
    with cli_container(data_dir) as container:
        trash = container.service("trash", Trash)
        org = trash.restore_organization(name, Actor.operator()).value
        settle_views(container)
        click.echo(f"restored organization {org.name} ({org.id})")


@click.group()
def repositories() -> None:
    """Repositories: list them, and restore deleted ones."""


@repositories.command("list")
@data_dir_option
@click.argument("organization", required=False)
@DELETED
@JSON
def list_repos(
    data_dir: Path | None, organization: str | None, deleted: bool, as_json: bool
) -> None:
    """List repositories as ORG/NAME (of one ORGANIZATION, or of all)."""
    with cli_container(data_dir, settle=True) as container:
        if deleted:
            items = container.service("trash", Trash).deleted()
            chosen = [i for i in items if i.repository]
            if organization:
                chosen = [i for i in chosen if i.organization == organization]
            _echo_deleted(chosen, as_json)
            return
        orgs = live_organizations(container.db)
        org_ids = [o["id"] for o in orgs if organization in (None, o["name"])]
        after = ""
        while True:
            rows = list_repositories(container.db, org_ids, after=after, amount=500)
            for row in rows:
                name = f"{row['organization_slug']}/{row['name']}"
                if as_json:
                    echo_json({"name": name, "id": row["id"], "created_at": row["created_at"]})
                else:
                    click.echo(f"{name:<40} {row['id']}  created {row['created_at']}")
            if len(rows) < 500:
                break
            after = f"{rows[-1]['organization_slug']}/{rows[-1]['name']}"


@repositories.command("restore")
@data_dir_option
@click.argument("path", metavar="ORG/NAME")
def restore_repository(data_dir: Path | None, path: str) -> None:
    """Restore the deleted repository ORG/NAME with its objects and history."""
    with cli_container(data_dir) as container:
        org, _, name = path.partition("/")
        if not org or not name:
            raise Invalid("name the repository as ORG/NAME")
        trash = container.service("trash", Trash)
        repo = trash.restore_repository(org, name, Actor.operator()).value
        settle_views(container)
        click.echo(f"restored repository {org}/{repo.name} ({repo.id})")
