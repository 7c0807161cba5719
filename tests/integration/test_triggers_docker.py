"""A trigger launching a real sandbox on the Docker engine, on both backends: a commit under the
trigger's prefix becomes exactly one run whose sandbox sees the committed tree and commits its
own output (which matches no condition, so nothing fires again)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import tilde

from infra.bootstrap import Container
from tests.conftest import LiveServer, bearer, create_key, create_user
from tests.docker_env import BUSYBOX_IMAGE, ensure_images

TERMINAL = {"done", "errored", "failed", "cancelled"}


def until(fetch: Any, ready: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = fetch()
        if ready(value):
            return value
        time.sleep(0.3)
    raise AssertionError(f"never ready: {value}")


def test_a_matching_commit_runs_one_sandbox_that_commits_its_output(
    container: Container, live_server: LiveServer
) -> None:
    ensure_images(python=False)
    user = create_user(container)
    token = create_key(container, user)
    with (
        tilde.Client(endpoint_url=live_server.url, api_key=token) as client,
        httpx.Client(base_url=live_server.url + "/api/v1", headers=bearer(token)) as http,
    ):
        org = client.organizations.create(f"t-{user['username']}", display_name="triggers")
        org.repositories.create("data", description="trigger e2e")
        repository = client.repository(f"{org.name}/data")
        base = f"/organizations/{org.name}/repositories/data"
        script = "wc -c < /sandbox/datasets/a.csv > /sandbox/out/size.txt"
        created = http.post(
            f"{base}/sandbox-triggers",
            json={
                "name": "size",
                "conditions": [{"type": "prefix", "prefix": "datasets/"}],
                "sandbox_config": {
                    "image": BUSYBOX_IMAGE,
                    "command": ["sh", "-c", f"mkdir -p /sandbox/out && {script}"],
                },
            },
        )
        assert created.status_code == 201, created.text
        trigger_id = created.json()["id"]
        with repository.session() as session:
            session.objects.put("datasets/a.csv", b"1,2,3\n")
            commit_id = session.commit("data")

        def runs() -> list[dict[str, Any]]:
            answer = http.get(f"{base}/sandbox-triggers/{trigger_id}/runs")
            assert answer.status_code == 200, answer.text
            return answer.json()["results"]  # type: ignore[no-any-return]

        [run] = until(runs, lambda r: bool(r) and bool(r[0].get("sandbox_id")))
        assert run["commit_id"] == commit_id
        status = until(
            lambda: http.get(f"{base}/sandboxes/{run['sandbox_id']}/status").json(),
            lambda s: s["status"] in TERMINAL,
        )
        assert (status["status"], status["status_reason"]) == ("done", "committed"), status
        made = repository.commits.get(status["commit_id"])
        assert made.objects.get("out/size.txt").read().strip() == b"6"
        time.sleep(2)  # the sandbox's own commit (under out/) fires nothing
        assert len(runs()) == 1
