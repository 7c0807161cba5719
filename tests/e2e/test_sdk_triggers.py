"""The official SDK's sandbox trigger calls against a live server, on SQLite and
PostgreSQL: create/list/get, update (only the fields given), toggle, runs, delete."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import tilde
from tilde.exceptions import BadRequestError, ConflictError, NotFoundError

from infra.bootstrap import Container
from infra.triggers.launcher import MemoryLauncher
from tests import services
from tests.builders import name
from tests.conftest import LiveServer, make_settings
from tests.orgs import create_org, person
from tests.triggers_env import triggered_container

pytestmark = pytest.mark.e2e
CONFIG = {"image": "busybox:latest", "command": ["sh", "-c", "ls"], "env_vars": {"A": "1"}}


@dataclass
class Stack:
    container: Container
    launcher: MemoryLauncher
    sdk: tilde.Client
    org: str


@pytest.fixture(params=["sqlite", "postgres"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    settings = make_settings(tmp_path, request.param)
    launcher = MemoryLauncher()
    container = triggered_container(settings, launcher)
    try:
        with LiveServer(container) as server:
            owner = person(container)
            with httpx.Client(base_url=server.url, headers=owner.auth, timeout=60) as http:
                org = create_org(http, owner)["name"]
            with tilde.Client(endpoint_url=server.url, api_key=owner.token) as sdk:
                yield Stack(container, launcher, sdk, org)
    finally:
        container.close()
        if settings.is_postgres:
            services.drop_database(settings.database_url)


def test_the_sdk_drives_every_trigger_operation(stack: Stack) -> None:
    org = stack.sdk.organizations.get(stack.org)
    repo_name = name("r-")
    org.repositories.create(repo_name)
    repo = stack.sdk.repository(f"{stack.org}/{repo_name}")
    conditions = [{"type": "prefix", "prefix": "datasets/", "diff_type": "added"}]
    trigger = repo.sandbox_triggers.create(
        name="etl", conditions=conditions, sandbox_config=CONFIG, description="nightly"
    )
    assert trigger.enabled is True and trigger.description == "nightly"
    assert trigger.conditions[0].prefix == "datasets/" and trigger.sandbox_config is not None
    assert trigger.sandbox_config.image == "busybox:latest"
    assert [t.name for t in repo.sandbox_triggers.list()] == ["etl"]
    assert repo.sandbox_triggers.get(trigger.id).id == trigger.id
    renamed = trigger.update(name="etl-2")  # the SDK sends {"name": ...} only
    assert renamed.name == "etl-2" and renamed.description == "nightly"
    assert renamed.sandbox_config is not None and renamed.sandbox_config.env_vars == {"A": "1"}
    with repo.session() as session:
        session.objects.put("datasets/a.csv", b"1,2\n")
        commit_id = session.commit("new data")
    deadline = time.monotonic() + 15
    while not (found := [r for r in renamed.runs.list() if r.status == "created"]):
        assert time.monotonic() < deadline, "no run"
        time.sleep(0.05)
    [run] = found
    assert run.commit_id == commit_id and run.matched_paths == ["datasets/a.csv"]
    assert run.sandbox_id in stack.launcher.sandboxes
    assert renamed.toggle(enabled=False).enabled is False
    with pytest.raises(BadRequestError):
        repo.sandbox_triggers.create(name="bad", conditions=[], sandbox_config=CONFIG)
    with pytest.raises(ConflictError):
        repo.sandbox_triggers.create(name="etl-2", conditions=conditions, sandbox_config=CONFIG)
    renamed.delete()
    with pytest.raises(NotFoundError):
        repo.sandbox_triggers.get(trigger.id)
    assert list(repo.sandbox_triggers.list()) == []
