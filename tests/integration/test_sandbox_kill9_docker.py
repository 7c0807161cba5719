"""kill -9 of the process running a sandbox on the real Docker engine: after a restart the
new process takes the run over once the lease lapses and re-attaches to the container, which
kept running (not failed/sandbox_lost); the output already logged is not repeated."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from infra.bootstrap import Container
from tests.conftest import ServerProcess, bearer, create_key, create_user
from tests.docker_env import BUSYBOX_IMAGE, ensure_images

TERMINAL = {"done", "errored", "failed", "cancelled"}
# Long enough that the restarted process re-attaches while the container still runs.
SCRIPT = (
    "echo start; echo before > /sandbox/before.txt; sleep 15; "
    "echo after > /sandbox/after.txt; echo end"
)


def poll(http: httpx.Client, url: str, until: set[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            body = http.get(url).json()
        except httpx.HTTPError:
            body = {}
        if body.get("status") in until:
            return body
        time.sleep(0.2)
    raise AssertionError(f"{url} never reached {until}: {body}")


def killed_mid_run(container: Container, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run SCRIPT, kill -9 the server while it runs, restart it; what the sandbox came to."""
    ensure_images(python=False)
    monkeypatch.setenv("TILDE_SANDBOX_LEASE_SECONDS", "2")
    user = create_user(container)
    auth = bearer(create_key(container, user))
    server = ServerProcess(container.settings).start()
    try:
        with httpx.Client(base_url=server.url + "/api/v1", headers=auth, timeout=10) as http:
            org = f"o-{user['username']}"
            assert http.post("/organizations", json={"name": org, "display_name": "k"}).is_success
            repo = f"/organizations/{org}/repositories"
            assert http.post(repo, json={"name": "data"}).is_success
            body = {"image": BUSYBOX_IMAGE, "command": ["sh", "-c", SCRIPT]}
            created = http.post(f"{repo}/data/sandboxes", json=body)
            assert created.status_code == 201, created.text
            sandbox = f"{repo}/data/sandboxes/{created.json()['sandbox_id']}"
            poll(http, f"{sandbox}/status", {"running"}, 60)
            time.sleep(0.5)  # "start" is in the log
            server.kill9()
            server.start()
            final = poll(http, f"{sandbox}/status", TERMINAL, 90)
            return {
                "final": final,
                "log": http.get(f"{sandbox}/logs/stdout").content,
                "commits": http.get(f"{repo}/data/log").json()["results"],
            }
    finally:
        server.stop()


def test_a_killed_server_s_sandbox_is_reattached_and_ends_once(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = killed_mid_run(container, monkeypatch)
    assert seen["final"]["status"] == "done", seen  # not failed/sandbox_lost: re-attached
    assert seen["final"]["exit_code"] == 0
    # What the run wrote before and after the kill is committed once.
    assert seen["final"]["status_reason"] == "committed", seen
    assert [c["id"] for c in seen["commits"]].count(seen["final"]["commit_id"]) == 1
    # What the first process logged is not logged again by the one that re-attached.
    assert seen["log"].count(b"start\n") == 1, seen["log"]
