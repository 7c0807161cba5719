"""Two server processes (each with its sandbox worker) sharing one queue on the real Docker
engine, on both backends: every sandbox runs exactly once (one output, one commit each)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from infra.bootstrap import Container
from tests.conftest import ServerProcess, bearer, create_key, create_user
from tests.docker_env import BUSYBOX_IMAGE, ensure_images

TERMINAL = {"done", "errored", "failed", "cancelled"}
COUNT = 6


def test_two_workers_run_each_sandbox_exactly_once(container: Container) -> None:
    ensure_images(python=False)
    user = create_user(container)
    auth = bearer(create_key(container, user))
    first, second = ServerProcess(container.settings), ServerProcess(container.settings)
    first.start()
    second.start()
    try:
        with (
            httpx.Client(base_url=first.url + "/api/v1", headers=auth, timeout=30) as a,
            httpx.Client(base_url=second.url + "/api/v1", headers=auth, timeout=30) as b,
        ):
            org = f"w-{user['username']}"
            assert a.post("/organizations", json={"name": org, "display_name": "w"}).is_success
            repo = f"/organizations/{org}/repositories/data"
            assert a.post(f"/organizations/{org}/repositories", json={"name": "data"}).is_success
            ids = []
            for i in range(COUNT):
                script = f"echo run-{i}; echo {i} > /sandbox/out-{i}.txt"
                body = {"image": BUSYBOX_IMAGE, "command": ["sh", "-c", script]}
                created = (a if i % 2 else b).post(f"{repo}/sandboxes", json=body)
                assert created.status_code == 201, created.text
                ids.append(created.json()["sandbox_id"])
            deadline = time.monotonic() + 180
            finals: dict[str, dict[str, Any]] = {}
            while len(finals) < COUNT:
                assert time.monotonic() < deadline, finals
                for sid in ids:
                    if sid not in finals:
                        status = a.get(f"{repo}/sandboxes/{sid}/status").json()
                        if status.get("status") in TERMINAL:
                            finals[sid] = status
                time.sleep(0.3)
            assert {(s["status"], s["status_reason"]) for s in finals.values()} == {
                ("done", "committed")
            }, finals
            for i, sid in enumerate(ids):
                log = b.get(f"{repo}/sandboxes/{sid}/logs/stdout").content
                assert log.count(f"run-{i}\n".encode()) == 1, log
            commits = a.get(f"{repo}/log", params={"amount": 100}).json()["results"]
            assert len(commits) == COUNT
            assert {c["id"] for c in commits} == {s["commit_id"] for s in finals.values()}
    finally:
        first.stop()
        second.stop()
