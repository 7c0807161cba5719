"""Ends of a sandbox on the real Docker engine, through the official SDK on both backends: a
timeout kills the run (failed/timeout), a cancel ends it (cancelled, 409 the second time), and
neither commits what the run wrote; the janitor removes what a sandbox nobody owns left in the
engine and leaves a live sandbox's resources alone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import tilde

from application.sandboxes.ports import LABEL_INSTALLATION, LABEL_SANDBOX, ContainerSpec
from infra.bootstrap import Container
from infra.docker import limits_from_settings
from infra.sandboxes.janitor import SandboxJanitor
from tests.conftest import LiveServer, create_key, create_user
from tests.docker_env import BUSYBOX_IMAGE, ensure_images

TERMINAL = {"done", "errored", "failed", "cancelled"}


@pytest.fixture
def repo(container: Container, live_server: LiveServer) -> Iterator[Any]:
    ensure_images(python=False)
    user = create_user(container)
    token = create_key(container, user)
    with tilde.Client(endpoint_url=live_server.url, api_key=token) as client:
        org = client.organizations.create(f"l-{user['username']}", display_name="lifecycle")
        org.repositories.create("data", description="sandbox ends")
        repository = client.repository(f"{org.name}/data")
        with repository.session() as session:
            session.objects.put("keep.txt", b"kept\n")
            session.commit("seed")
        yield repository


def ended(sandbox: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = sandbox.status()
        if status.state in TERMINAL:
            return status
        time.sleep(0.3)
    raise AssertionError("the sandbox never ended")


def running(sandbox: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while sandbox.status().state != "running":
        assert time.monotonic() < deadline, sandbox.status()
        time.sleep(0.2)


def head_paths(repo: Any) -> set[str]:
    commits = list(repo.commits.list())
    assert len(commits) == 1  # the seed only
    return {o.path for o in commits[0].objects.list()}


def test_a_timeout_kills_the_run_and_commits_nothing(repo: Any) -> None:
    sandbox = repo.sandboxes.create(
        image=BUSYBOX_IMAGE,
        command=["sh", "-c", "echo partial > /sandbox/partial.txt; sleep 60"],
        timeout_seconds=2,
    )
    started = time.monotonic()
    status = ended(sandbox)
    assert (status.state, status.status_reason) == ("failed", "timeout"), status
    assert time.monotonic() - started < 30
    assert head_paths(repo) == {"keep.txt"}


def test_a_cancel_ends_the_run_rolls_back_and_a_second_cancel_is_409(repo: Any) -> None:
    sandbox = repo.sandboxes.create(
        image=BUSYBOX_IMAGE, command=["sh", "-c", "echo x > /sandbox/x.txt; sleep 60"]
    )
    running(sandbox)
    sandbox.cancel()
    status = ended(sandbox)
    assert status.state == "cancelled", status
    assert head_paths(repo) == {"keep.txt"}
    with pytest.raises(tilde.exceptions.ConflictError):
        sandbox.cancel()


def test_the_janitor_removes_what_nobody_owns_and_spares_live_sandboxes(
    container: Container, repo: Any, tmp_path: Path
) -> None:
    runtime = container.services["sandbox_runtime"]
    live = repo.sandboxes.create(image=BUSYBOX_IMAGE, command=["sleep", "60"])
    running(live)
    orphan = str(uuid4())  # resources in the engine, no sandbox in the event store
    lower = tmp_path / "lower"
    lower.mkdir()
    runtime.prepare(
        ContainerSpec(
            sandbox_id=orphan,
            image=BUSYBOX_IMAGE,
            mode="one-shot",
            command=["true"],
            env={},
            mountpoint="/sandbox",
            lower=lower,
            user=container.settings.sandbox_user,
            limits=limits_from_settings(container.settings),
            labels={LABEL_INSTALLATION: container.settings.installation, LABEL_SANDBOX: orphan},
        )
    )
    assert {orphan, str(live.id)} <= set(runtime.owned())
    janitor = SandboxJanitor(runtime, container.services["sandboxes"], interval=0)
    assert janitor.sweep() >= 1
    assert orphan not in runtime.owned() and runtime.find(orphan) is None
    assert str(live.id) in runtime.owned()  # its worker owns it
    assert live.status().state == "running"
    live.cancel()
    assert ended(live).state == "cancelled"
