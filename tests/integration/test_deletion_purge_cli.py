"""Deleted organizations and repositories: garbage collection purges them only after
TILDE_DELETED_RETENTION_DAYS (an injected clock moves GC's "now"), their names are reserved
until then and free after, and the operator lists and restores them with `tilde-server`.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result
from litestar.testing import TestClient

from application.principal import Principal
from application.trash import Trash
from domain.shared.errors import NotFound
from domain.shared.values import Actor, parse_iso, utcnow
from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from interfaces.cli.main import cli
from interfaces.http.app import create_app
from tests.catalog_env import blob_addresses
from tests.catalog_helpers import Clock, Repo, create_repository
from tests.conftest import FAST_HASHER
from tests.orgs import API, assert_error, create_org, person

DAY = timedelta(days=1)


@pytest.fixture
def clocked(backend: Settings) -> Iterator[tuple[Container, TestClient[Any], Clock]]:
    """A served container on a clock the test moves (GC never runs by itself)."""
    clock = Clock(utcnow())
    settings = backend.model_copy(update={"gc_interval_seconds": 0})
    container = bootstrap(settings, clock=clock, hasher=FAST_HASHER)
    try:
        app = create_app(container, run_background=True)
        with TestClient(app, base_url="http://testserver.local") as client:
            yield container, client, clock
    finally:
        container.close()


def test_gc_purges_deleted_things_only_after_the_retention_window(
    clocked: tuple[Container, TestClient[Any], Clock],
) -> None:
    container, client, clock = clocked
    trash = container.service("trash", Trash)
    t0 = clock.now
    owner, other = person(container), person(container)
    org = create_org(client, owner)["name"]
    org_url = f"{API}/organizations/{org}"
    kept = Repo(client, owner, org, create_repository(client, owner, org, "kept")["name"])
    kept.write({"f.txt": b"kept bytes"}, "seed")
    late = Repo(client, owner, org, create_repository(client, owner, org, "late")["name"])
    late.write({"g.txt": b"late bytes"}, "seed")
    kept_id = client.get(kept.base, headers=owner.auth).json()["id"]
    assert client.delete(kept.base, headers=owner.auth).status_code == 204

    # Inside the window nothing goes: bytes, rows and the name stay.
    report = trash.collect(t0 + 6 * DAY)
    assert (report.repositories_purged, report.organizations_purged) == (0, 0)
    assert blob_addresses(container, kept_id)
    body = {"name": "kept"}
    reused = client.post(f"{org_url}/repositories", json=body, headers=owner.auth)
    assert "reserved until" in assert_error(reused, 409, "CONFLICT")["message"]

    clock.now = t0 + DAY
    assert client.delete(late.base, headers=owner.auth).status_code == 204
    assert client.delete(org_url, headers=owner.auth).status_code == 204
    (org_item,) = [d for d in trash.deleted() if not d.repository]
    assert org_item.purge_after == org_item.deleted_at + 7 * DAY
    assert parse_iso(str(org_item.deleted_at.isoformat())) is not None

    # `kept`'s window (deleted at t0) ends first: it is purged, its bytes collected.
    report = trash.collect(t0 + 7 * DAY + timedelta(minutes=1))
    assert (report.repositories_purged, report.organizations_purged) == (1, 0)
    assert blob_addresses(container, kept_id) == set()
    assert [(d.organization, d.repository) for d in trash.deleted()] == [(org, ""), (org, "late")]

    # The organization's window ends: it goes with its repositories, and its name is free.
    report = trash.collect(t0 + 8 * DAY + timedelta(minutes=1))
    assert (report.repositories_purged, report.organizations_purged) == (1, 1)
    assert trash.deleted() == []
    with pytest.raises(NotFound):
        trash.restore_organization(org, Actor.operator())
    again = create_org(client, other, org)
    assert again["name"] == org
    assert (
        client.get(f"{API}/organizations/{org}/repositories", headers=other.auth).json()["results"]
        == []
    )
    assert_error(client.get(org_url, headers=owner.auth), 404)


def test_a_restore_inside_the_window_keeps_everything_from_gc(
    clocked: tuple[Container, TestClient[Any], Clock],
) -> None:
    container, client, clock = clocked
    trash = container.service("trash", Trash)
    owner = person(container)
    org = create_org(client, owner)["name"]
    repo = Repo(client, owner, org, create_repository(client, owner, org)["name"])
    first = repo.write({"a.txt": b"one"}, "first")
    assert client.delete(repo.base, headers=owner.auth).status_code == 204
    clock.now += 6 * DAY
    container.wait_for(trash.restore_repository(org, repo.name, Actor.operator()).written)
    report = trash.collect(clock.now + 30 * DAY)
    assert report.repositories_purged == 0
    assert repo.read("a.txt") == b"one"
    assert [c["id"] for c in repo.log()["results"]] == [first]


def test_a_repository_that_raced_into_a_deleted_organization_is_purged_with_it(
    clocked: tuple[Container, TestClient[Any], Clock],
) -> None:
    """The 409 check and the deletion are two contexts: a repository created between them
    stays unreachable (the organization answers 404) and goes when the organization does."""
    container, client, clock = clocked
    trash = container.service("trash", Trash)
    owner = person(container)
    org = create_org(client, owner)
    repo = Repo(client, owner, org["name"], create_repository(client, owner, org["name"])["name"])
    repo.write({"r.txt": b"raced"}, "seed")
    repo_id = client.get(repo.base, headers=owner.auth).json()["id"]
    principal = Principal(type="user", id=owner.id, name=owner.username, via="bearer")
    deleted = container.organizations.delete_organization(org["id"], principal, repositories=[])
    container.wait_for(deleted.written)
    assert_error(client.get(repo.base, headers=owner.auth), 404)
    report = trash.collect(clock.now + 7 * DAY + timedelta(minutes=1))
    assert (report.repositories_purged, report.organizations_purged) == (1, 1)
    assert blob_addresses(container, repo_id) == set()
    assert trash.deleted() == []


# -- the operator's commands ------------------------------------------------------------------


def run(settings: Settings, *args: str, ok: bool = True) -> Result:
    env = {
        "TILDE_DATABASE_URL": settings.database_url,
        "TILDE_SECRET_KEY": settings.secret_key,
    }
    argv = [*args, "--data-dir", str(settings.data_dir)]
    result = CliRunner().invoke(cli, argv, env=env, catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def json_lines(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_the_operator_lists_and_restores_deleted_things(backend: Settings) -> None:
    container = bootstrap(backend, hasher=FAST_HASHER)
    try:
        with TestClient(create_app(container), base_url="http://testserver.local") as client:
            owner = person(container)
            org = create_org(client, owner)["name"]
            gone = create_org(client, owner)["name"]
            repo = Repo(client, owner, org, create_repository(client, owner, org)["name"])
            repo.write({"a.txt": b"restored bytes"}, "seed")
            assert client.delete(repo.base, headers=owner.auth).status_code == 204
            assert (
                client.delete(f"{API}/organizations/{gone}", headers=owner.auth).status_code == 204
            )
    finally:
        container.close()

    orgs = json_lines(run(backend, "organizations", "list", "--deleted", "--json"))
    assert [o["name"] for o in orgs] == [gone]
    deleted_at, purge_after = parse_iso(orgs[0]["deleted_at"]), parse_iso(orgs[0]["purge_after"])
    assert deleted_at and purge_after and purge_after - deleted_at == 7 * DAY
    repos = json_lines(run(backend, "repositories", "list", "--deleted", "--json"))
    assert [r["name"] for r in repos] == [f"{org}/{repo.name}"]
    listed = run(backend, "repositories", "list", org).stdout
    assert repo.name not in listed

    missing = run(backend, "organizations", "restore", "no-such-org", ok=False)
    assert missing.exit_code == 1 and "no deleted organization 'no-such-org'" in missing.output
    unnamed = run(backend, "repositories", "restore", "just-a-name", ok=False)
    assert unnamed.exit_code == 1 and "ORG/NAME" in unnamed.output
    restored = run(backend, "repositories", "restore", f"{org}/{repo.name}")
    assert f"restored repository {org}/{repo.name}" in restored.stdout
    assert f"restored organization {gone}" in run(backend, "organizations", "restore", gone).stdout

    assert run(backend, "organizations", "list", "--deleted").stdout == ""
    assert run(backend, "repositories", "list", "--deleted").stdout == ""
    live = {o["name"] for o in json_lines(run(backend, "organizations", "list", "--json"))}
    assert {org, gone} <= live
    assert f"{org}/{repo.name}" in run(backend, "repositories", "list", org).stdout

    container = bootstrap(backend, hasher=FAST_HASHER)
    try:
        with TestClient(create_app(container), base_url="http://testserver.local") as client:
            repo.http = client
            assert repo.read("a.txt") == b"restored bytes"
            back = client.get(f"{API}/organizations/{gone}", headers=owner.auth)
            assert back.status_code == 200, back.text
    finally:
        container.close()
