"""Exec and logs end to end: the official SDK against a live server whose sandboxes run on the
real Docker engine (busybox test image), on SQLite and PostgreSQL — `repo.shell()` with
`sh.run` (exit codes, stderr, stdin, env, cwd), `repo.execute()` output through the logs,
live log streaming, the exec audit trail, and 410 once a finished sandbox's logs expired."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import tilde

from infra.bootstrap import bootstrap
from infra.docker import DockerRuntime
from infra.settings import Settings
from tests import services
from tests.builders import name
from tests.conftest import FAST_HASHER, LiveServer, make_settings
from tests.docker_env import BUSYBOX_IMAGE, ensure_images
from tests.orgs import person
from tests.sandbox_cleanup import (
    TEST_INSTALLATION_PREFIX,
    assert_clean,
    docker_leak_check,
    remove_all,
)

pytestmark = pytest.mark.e2e
__all__ = ["docker_leak_check"]


@pytest.fixture(params=["sqlite", "postgres"])
def stack(
    request: pytest.FixtureRequest, tmp_path: Path, docker_leak_check: None
) -> Iterator[dict[str, Any]]:
    ensure_images(python=False)
    settings = make_settings(
        tmp_path,
        request.param,
        sandbox_log_retention_seconds=3,
        installation_id=f"{TEST_INSTALLATION_PREFIX}{uuid.uuid4().hex[:12]}",
    )
    container = bootstrap(settings, hasher=FAST_HASHER)
    try:
        with (
            LiveServer(container) as server,
            tilde.Client(
                endpoint_url=server.url, api_key=(owner := person(container)).token
            ) as sdk,
        ):
            org = sdk.organizations.create(name("o-"), display_name="exec e2e").name
            sdk.organizations.get(org).repositories.create("data", description="exec e2e")
            yield {
                "server": server,
                "owner": owner,
                "org": org,
                "repo": sdk.repository(f"{org}/data"),
                "container": container,
                "settings": settings,
            }
    finally:
        container.close()
        # Runs still going when the server stops are left for a next worker: nothing will come.
        runtime = DockerRuntime(
            installation=settings.installation, state_dir=settings.data_dir / "sandbox-disks"
        )
        remove_all(runtime)
        assert_clean(runtime)
        if settings.is_postgres:
            services.drop_database(settings.database_url)


def sandboxes_url(stack: dict[str, Any]) -> str:
    return f"{stack['server'].url}/api/v1/organizations/{stack['org']}/repositories/data/sandboxes"


def test_shell_runs_commands_with_exit_codes_stdin_env_and_cwd(stack: dict[str, Any]) -> None:
    with stack["repo"].shell(image=BUSYBOX_IMAGE, env={"FROM_SANDBOX": "s"}) as sh:
        result = sh.run("echo hi; echo err >&2; exit 3")
        assert (result.stdout.read(), result.stderr.read(), result.exit_code) == (
            b"hi\n",
            b"err\n",
            3,
        )
        assert sh.run(["cat"], stdin=b"fed through stdin").stdout.read() == b"fed through stdin"
        assert sh.run(["cat"]).exit_code == 0  # no stdin: EOF, the child does not hang
        out = sh.run('echo "$FROM_SANDBOX $EXTRA"; pwd', env={"EXTRA": "e"}).stdout.read()
        assert out == b"s e\n/sandbox\n"
        assert sh.run("pwd", cwd="/tmp").stdout.read() == b"/tmp\n"
        assert sh.run("id -u").stdout.read().strip() != b"0"


def test_execute_returns_the_merged_output_from_the_logs(stack: dict[str, Any]) -> None:
    result = stack["repo"].execute(
        "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three",
        image=BUSYBOX_IMAGE,
        check=False,
    )
    assert result.exit_code == 0
    assert result.stdout.read() == b"one\ntwo\nthree\n"


def test_logs_stream_live_while_the_sandbox_runs(stack: dict[str, Any]) -> None:
    auth = stack["owner"].auth
    created = httpx.post(
        sandboxes_url(stack),
        json={"image": BUSYBOX_IMAGE, "command": ["sh", "-c", "echo early; sleep 3; echo late"]},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    sid = created.json()["sandbox_id"]
    arrivals: list[tuple[float, bytes]] = []
    url = f"{sandboxes_url(stack)}/{sid}/logs/stdout"
    with httpx.stream("GET", url, headers=auth, timeout=60) as response:
        assert response.status_code == 200
        for data in response.iter_raw():
            arrivals.append((time.monotonic(), data))
    body = b"".join(d for _, d in arrivals)
    assert body == b"early\nlate\n"
    assert arrivals[-1][0] - arrivals[0][0] >= 2  # "early" arrived long before the end


def test_each_exec_is_on_the_record_without_env_values(stack: dict[str, Any]) -> None:
    with stack["repo"].shell(image=BUSYBOX_IMAGE) as sh:
        assert sh.run("exit 7", env={"TOKEN": "do-not-record-me"}).exit_code == 7
    audit = httpx.get(
        f"{stack['server'].url}/api/v1/organizations/{stack['org']}/audit",
        headers=stack["owner"].auth,
    )
    assert audit.status_code == 200, audit.text
    assert "exit 7" in audit.text and "do-not-record-me" not in audit.text


def test_finished_logs_expire_with_410(stack: dict[str, Any]) -> None:
    settings: Settings = stack["settings"]
    assert settings.sandbox_log_retention_seconds == 3
    result = stack["repo"].execute("echo bye", image=BUSYBOX_IMAGE, check=False)
    assert result.stdout.read() == b"bye\n"
    sid = _last_sandbox(stack)
    time.sleep(3.5)
    response = httpx.get(f"{sandboxes_url(stack)}/{sid}/logs/stdout", headers=stack["owner"].auth)
    assert response.status_code == 410 and response.json()["message"] == "logs no longer available"


def _last_sandbox(stack: dict[str, Any]) -> str:
    listed = httpx.get(sandboxes_url(stack), headers=stack["owner"].auth).json()
    return str(listed["results"][0]["id"])
