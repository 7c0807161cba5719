"""The official SDK's sandbox flows against a live server on the real Docker engine (the
busybox test image), on both backends: `repo.execute`, `repo.shell()` with `sh.run` and
`finish`, `repo.sandboxes.create/list/get`, `status().stdout()`, a non-zero exit and a
path_prefix mount; the commit lands in the repository's history."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import tilde

from infra.bootstrap import Container
from tests.conftest import LiveServer, create_key, create_user
from tests.docker_env import BUSYBOX_IMAGE, ensure_images

TERMINAL = {"done", "errored", "failed", "cancelled"}


@pytest.fixture
def repo(container: Container, live_server: LiveServer) -> Iterator[Any]:
    ensure_images(python=False)
    user = create_user(container)
    token = create_key(container, user)
    with tilde.Client(endpoint_url=live_server.url, api_key=token) as client:
        org = client.organizations.create(f"o-{user['username']}", display_name="sandboxes")
        org.repositories.create("data", description="sandbox e2e")
        repository = client.repository(f"{org.name}/data")
        with repository.session() as session:
            session.objects.put("in/hello.txt", b"hello from the repository\n")
            session.objects.put("keep.txt", b"kept\n")
            session.commit("seed")
        yield repository


def wait(sandbox: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = sandbox.status()
        if status.state in TERMINAL:
            return status
        time.sleep(0.3)
    raise AssertionError("the sandbox never ended")


def test_execute_reads_the_tree_writes_back_and_commits(repo: Any) -> None:
    result = repo.execute(
        "cat /sandbox/in/hello.txt; echo made > /sandbox/out.txt; rm /sandbox/keep.txt; id -u",
        image=BUSYBOX_IMAGE,
    )
    lines = result.stdout.text().splitlines()
    assert lines[0] == "hello from the repository" and lines[-1] != "0"  # never root
    assert result.exit_code == 0
    status = next(iter(repo.sandboxes.list())).status()
    assert (status.state, status.status_reason) == ("done", "committed")
    assert committed_paths(repo, status.commit_id) == {"in/hello.txt", "out.txt"}


def committed_paths(repo: Any, commit_id: str) -> set[str]:
    return {o.path for o in repo.commits.get(commit_id).objects.list()}


def test_non_zero_exit_is_errored_and_rolls_back(repo: Any) -> None:
    with pytest.raises(tilde.exceptions.CommandError):
        repo.execute("echo partial > /sandbox/x.txt; exit 7", image=BUSYBOX_IMAGE)
    sandbox = next(iter(repo.sandboxes.list()))
    status = sandbox.status()
    assert (status.state, status.status_reason, status.exit_code) == (
        "errored",
        "exit_non_zero",
        7,
    )


def test_shell_runs_commands_then_finish_commits(repo: Any) -> None:
    with repo.shell(image=BUSYBOX_IMAGE) as sh:
        first = sh.run("echo hi; echo err >&2; exit 3")
        assert (first.stdout.text(), first.stderr.text(), first.exit_code) == ("hi\n", "err\n", 3)
        sh.run("echo from-shell > /sandbox/shell.txt", check=True)
    status = wait(next(iter(repo.sandboxes.list())))
    assert (status.state, status.status_reason) == ("done", "committed"), status.error_message
    assert "shell.txt" in committed_paths(repo, status.commit_id)


def test_create_list_get_and_stdout_with_a_path_prefix(repo: Any) -> None:
    sandbox = repo.sandboxes.create(
        image=BUSYBOX_IMAGE,
        command=["sh", "-c", "ls /data; echo new > /data/made.txt"],
        mountpoint="/data",
        path_prefix="in/",
    )
    status = wait(sandbox)
    assert (status.state, status.status_reason) == ("done", "committed"), status.error_message
    with status.stdout() as logs:
        assert any("hello.txt" in line for line in logs)
    assert "in/made.txt" in committed_paths(repo, status.commit_id)
    assert sandbox.id in [s.id for s in repo.sandboxes.list()]
    assert repo.sandboxes.get(sandbox.id).id == sandbox.id


def test_a_repository_without_commits_mounts_an_empty_writable_tree(
    container: Container, live_server: LiveServer
) -> None:
    ensure_images(python=False)
    user = create_user(container)
    token = create_key(container, user)
    with tilde.Client(endpoint_url=live_server.url, api_key=token) as client:
        org = client.organizations.create(f"e-{user['username']}", display_name="empty")
        org.repositories.create("empty", description="no commits yet")
        repository = client.repository(f"{org.name}/empty")
        result = repository.execute(
            "mkdir -p /sandbox/out && echo first > /sandbox/out/a.txt",
            image=BUSYBOX_IMAGE,
            check=False,
        )
        assert result.exit_code == 0, result.stdout.text()
        status = next(iter(repository.sandboxes.list())).status()
        assert (status.state, status.status_reason) == ("done", "committed")
        assert committed_paths(repository, status.commit_id) == {"out/a.txt"}
