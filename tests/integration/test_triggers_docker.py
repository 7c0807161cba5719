"""A trigger launching a real sandbox on the Docker engine, on both backends: a commit under the
trigger's prefix becomes exactly one run whose sandbox sees the committed tree and commits its
own output (which matches no condition, so nothing fires again)."""

from __future__ import annotations

import json
import time
from typing import Any
from uuid import uuid4

import httpx
import tilde

from application.principal import Principal
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
        out = "/sandbox/out/$TILDE_COMMIT_ID.txt"
        script = (
            f"wc -c < /sandbox/datasets/a.csv > {out}; "
            f'echo "$TILDE_TRIGGER_ID $TILDE_TRIGGER_NAME" >> {out}; '
            f'cat "$TILDE_TRIGGER_CHANGES" >> {out}; '
            f'echo tamper >> "$TILDE_TRIGGER_CHANGES" || echo read-only >> {out}'
        )
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
        written = made.objects.get(f"out/{commit_id}.txt").read().split(b"\n")
        assert written[:2] == [b"6", f"{trigger_id} size".encode()], written
        # The changes file: the matched changes, read-only, outside the mount.
        assert json.loads(written[2]) == {"path": "datasets/a.csv", "change": "added", "size": 6}
        assert written[3] == b"read-only", written
        assert {o.path for o in made.objects.list()} == {"datasets/a.csv", f"out/{commit_id}.txt"}
        record = http.get(f"{base}/sandboxes/{run['sandbox_id']}").json()
        assert (record["trigger_id"], record["trigger_name"]) == (trigger_id, "size")
        time.sleep(2)  # the sandbox's own commit (under out/) fires nothing
        assert len(runs()) == 1


def test_a_triggered_sandbox_mounts_the_commit_that_fired_not_the_head(
    container: Container, live_server: LiveServer
) -> None:
    """Launched late (the head has moved on), the sandbox still sees the firing commit's tree."""
    ensure_images(python=False)
    user = create_user(container)
    token = create_key(container, user)
    with tilde.Client(endpoint_url=live_server.url, api_key=token) as client:
        org = client.organizations.create(f"h-{user['username']}", display_name="head")
        org.repositories.create("data", description="tree at the firing commit")
        repository = client.repository(f"{org.name}/data")
        with repository.session() as session:
            session.objects.put("datasets/a.csv", b"1,2,3\n")
            fired = session.commit("fired")
        org_id = str(org.id)
        seq = container.catalog.get_repository(org_id, "data", read_only=True).head_seq
        with repository.session() as session:
            session.objects.put("datasets/a.csv", b"1\n")
            session.commit("later")
        principal = Principal("user", str(user["id"]), user["username"], "bearer")
        sandbox = (
            container.services["sandboxes"]
            .create(
                org_id,
                "data",
                {
                    "image": BUSYBOX_IMAGE,
                    "command": ["sh", "-c", "wc -c < /sandbox/datasets/a.csv"],
                },
                principal,
                sandbox_id=uuid4(),
                trigger={
                    "id": str(uuid4()),
                    "name": "late",
                    "commit_id": fired,
                    "commit_seq": str(seq),
                },
            )
            .value
        )

        def status_of() -> Any:
            try:  # made through the service: the list view may not have it yet
                return repository.sandboxes.get(str(sandbox.id)).status()
            except tilde.exceptions.NotFoundError:
                return None

        status = until(status_of, lambda s: s is not None and s.state in TERMINAL)
        assert (status.state, status.status_reason) == ("done", "no_changes"), status
        with status.stdout() as logs:
            assert [line.strip() for line in logs] == ["6"]
