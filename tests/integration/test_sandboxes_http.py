"""Sandboxes over HTTP on both backends with in-memory engine adapters (tests/sandbox_fakes):
create/list/get/status/cancel/finish, every outcome the runner records, validation, run_as."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from application.sandboxes.publishing import PublishOutcome
from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from interfaces.http.app import create_app
from tests.conftest import FAST_HASHER
from tests.orgs import API, Person, create_agent, create_org, person
from tests.sandbox_fakes import Fakes

TERMINAL = {"done", "errored", "failed", "cancelled"}


class Env:
    def __init__(self, client: TestClient[Any], owner: Person, org: str, fakes: Fakes) -> None:
        self.client, self.owner, self.org, self.fakes = client, owner, org, fakes
        self.repo = "data"
        r = client.post(
            f"{API}/organizations/{org}/repositories", json={"name": "data"}, headers=owner.auth
        )
        assert r.status_code == 201, r.text

    @property
    def base(self) -> str:
        return f"{API}/organizations/{self.org}/repositories/{self.repo}/sandboxes"

    def create(self, body: dict[str, Any], status: int = 201, auth: Any = None) -> Any:
        r = self.client.post(self.base, json=body, headers=auth or self.owner.auth)
        assert r.status_code == status, r.text
        return r.json()

    def status(self, sandbox_id: str) -> dict[str, Any]:
        r = self.client.get(f"{self.base}/{sandbox_id}/status", headers=self.owner.auth)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def until(self, sandbox_id: str, statuses: set[str], timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.status(sandbox_id)
            if body["status"] in statuses:
                return body
            time.sleep(0.05)
        raise AssertionError(f"sandbox {sandbox_id} never reached {statuses}: {body}")

    def run(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.until(self.create(body)["sandbox_id"], TERMINAL)


@pytest.fixture
def env(backend: Settings) -> Iterator[Env]:
    backend.sandbox_lease_seconds = 3
    fakes = Fakes()
    container: Container = bootstrap(backend, hasher=FAST_HASHER, contexts=fakes.contexts())
    try:
        with TestClient(create_app(container, run_background=True)) as client:
            owner = person(container)
            org = create_org(client, owner)["name"]
            yield Env(client, owner, org, fakes)
    finally:
        container.close()


def test_a_clean_exit_commits_and_the_sandbox_reads_back_with_every_field(env: Env) -> None:
    created = env.create({"image": "busybox", "command": ["echo hi", "write a.txt hello"]})
    sandbox_id = created["sandbox_id"]
    assert set(created) == {"sandbox_id"}
    final = env.until(sandbox_id, TERMINAL)
    assert (final["status"], final["status_reason"]) == ("done", "committed")
    assert final["commit_id"] == "commit-1" and final["exit_code"] == 0
    assert env.fakes.publisher.published == [(sandbox_id, ["a.txt"], env.owner.id)]
    got = env.client.get(f"{env.base}/{sandbox_id}", headers=env.owner.auth).json()
    assert got["id"] == sandbox_id and got["image"] == "busybox"
    assert got["command"] == ["echo hi", "write a.txt hello"]
    assert (
        got["mountpoint"] == "/sandbox" and got["path_prefix"] == "" and got["mode"] == "one-shot"
    )
    assert got["created_by_type"] == "user" and got["created_by"] == env.owner.id
    assert got["finished_at"] is not None and got["container_id"] == f"c-{sandbox_id}"
    assert got["trigger_id"] is None and got["trigger_name"] == ""
    # Resources are removed once the sandbox ended; its output stayed in the log store.
    assert sandbox_id not in env.fakes.runtime.boxes
    logs = env.client.app.state.container.services["sandbox_logs"]
    chunks, closed = logs.read(sandbox_id, 0)
    assert b"".join(c for _, c in chunks) == b"hi\n" and closed
    audit = env.client.get(f"{API}/organizations/{env.org}/audit", headers=env.owner.auth)
    assert audit.status_code == 200, audit.text
    mine = [e for e in audit.json()["results"] if e["resource_id"] == sandbox_id]
    kinds = [e["event_type"] for e in mine]
    assert kinds[0] == "Sandbox.Requested" and "Sandbox.Started" in kinds
    assert kinds[-1] == "Sandbox.Finished" and mine[0]["actor_id"] == env.owner.id


def test_outcomes_no_changes_exit_non_zero_conflict_approval_image_and_disk(env: Env) -> None:
    assert (env.run({"image": "busybox", "command": ["echo x"]})["status_reason"]) == "no_changes"
    errored = env.run({"image": "busybox", "command": ["write a b", "exit 3"]})
    assert (errored["status"], errored["status_reason"], errored["exit_code"]) == (
        "errored",
        "exit_non_zero",
        3,
    )
    env.fakes.publisher.outcome = PublishOutcome("conflict", conflicts=("a.txt", "b/c.txt"))
    conflict = env.run({"image": "busybox", "command": ["write a.txt x"]})
    assert (conflict["status"], conflict["status_reason"]) == ("failed", "commit_failed")
    assert "a.txt, b/c.txt" in conflict["error_message"]
    env.fakes.publisher.outcome = PublishOutcome("awaiting_approval", web_url="http://x/approve")
    pending = env.run({"image": "busybox", "command": ["write a.txt x"]})
    assert (pending["status_reason"], pending["web_url"]) == (
        "awaiting_approval",
        "http://x/approve",
    )
    missing = env.run({"image": "missing/image:1"})
    assert (missing["status"], missing["status_reason"]) == ("failed", "image_not_found")
    assert "missing/image:1" in missing["error_message"]
    disk = env.run({"image": "busybox", "command": ["disk"]})
    assert (disk["status"], disk["status_reason"]) == ("failed", "policy_violation")


def test_timeout_fails_and_cancel_rolls_back(env: Env) -> None:
    slow = env.run({"image": "busybox", "command": ["sleep 30"], "timeout_seconds": 1})
    assert (slow["status"], slow["status_reason"]) == ("failed", "timeout")
    sandbox_id = env.create({"image": "busybox", "command": ["sleep 30"]})["sandbox_id"]
    env.until(sandbox_id, {"running"})
    r = env.client.delete(f"{env.base}/{sandbox_id}", headers=env.owner.auth)
    assert r.status_code == 202 and r.json()["message"]
    final = env.until(sandbox_id, TERMINAL)
    assert (final["status"], final["status_reason"]) == ("cancelled", "cancelled_by_user")
    again = env.client.delete(f"{env.base}/{sandbox_id}", headers=env.owner.auth)
    assert again.status_code == 409 and again.json()["code"] == "CONFLICT"
    assert env.fakes.publisher.published == []


def test_service_mode_runs_until_finish_then_commits(env: Env) -> None:
    sandbox_id = env.create({"image": "busybox", "mode": "service"})["sandbox_id"]
    assert env.until(sandbox_id, {"running"} | TERMINAL)["status"] == "running"
    env.fakes.runtime.boxes[sandbox_id].upper.joinpath("out.txt").write_text("made by exec")
    r = env.client.post(f"{env.base}/{sandbox_id}/finish", headers=env.owner.auth)
    assert r.status_code == 202, r.text
    final = env.until(sandbox_id, TERMINAL)
    assert (final["status"], final["status_reason"]) == ("done", "committed")
    assert env.fakes.publisher.published[-1][1] == ["out.txt"]
    assert (
        env.client.post(f"{env.base}/{sandbox_id}/finish", headers=env.owner.auth).status_code
        == 409
    )
    one_shot = env.create({"image": "busybox", "command": ["sleep 30"]})["sandbox_id"]
    r = env.client.post(f"{env.base}/{one_shot}/finish", headers=env.owner.auth)
    assert r.status_code == 400 and r.json()["code"] == "BAD_REQUEST"


def test_list_is_newest_first_with_keyset_pages(env: Env) -> None:
    ids = [env.create({"image": "busybox", "command": ["exit 0"]})["sandbox_id"] for _ in range(3)]
    first = env.client.get(f"{env.base}?amount=2", headers=env.owner.auth).json()
    assert [s["id"] for s in first["results"]] == ids[::-1][:2]
    assert first["pagination"]["has_more"] and first["pagination"]["next_offset"]
    after = first["pagination"]["next_offset"]
    rest = env.client.get(
        f"{env.base}", params={"amount": 2, "after": after}, headers=env.owner.auth
    )
    assert [s["id"] for s in rest.json()["results"]] == [ids[0]]
    assert rest.json()["pagination"] == {"has_more": False, "next_offset": "", "max_per_page": 1000}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "image is required"),
        ({"image": "Not An Image!"}, "not a valid Docker image"),
        ({"image": "busybox", "mountpoint": "/"}, "cannot be /"),
        ({"image": "busybox", "mountpoint": "relative"}, "absolute"),
        ({"image": "busybox", "env_vars": {"1BAD": "x"}}, "not a valid variable name"),
        ({"image": "busybox", "timeout_seconds": 0}, "at least 1"),
        ({"image": "busybox", "timeout_seconds": 8 * 86400}, "session max duration"),
        ({"image": "busybox", "timeout_seconds": "10"}, "timeout_seconds"),
        ({"image": "busybox", "mode": "daemon"}, "mode must be"),
        ({"image": "busybox", "run_as": {"type": "user", "id": "x"}}, "run_as.type"),
    ],
)
def test_invalid_requests_answer_400_with_the_reason(
    env: Env, body: dict[str, Any], fragment: str
) -> None:
    r = env.client.post(env.base, json=body, headers=env.owner.auth)
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"message", "code", "request_id"}
    assert fragment in r.json()["message"]


def test_legacy_interactive_flag_means_interactive_mode(env: Env) -> None:
    sandbox_id = env.create({"image": "busybox", "interactive": True})["sandbox_id"]
    got = env.client.get(f"{env.base}/{sandbox_id}", headers=env.owner.auth).json()
    assert got["mode"] == "interactive" and got["command"] == ["/bin/sh"]


def test_run_as_must_name_an_agent_of_the_organization_and_authors_the_run(env: Env) -> None:
    missing = {"type": "agent", "id": "00000000-0000-4000-8000-000000000000"}
    r = env.client.post(
        env.base, json={"image": "busybox", "run_as": missing}, headers=env.owner.auth
    )
    assert r.status_code == 404, r.text
    agent = create_agent(env.client, env.owner, env.org, inline_policy="CreateSandbox()")
    run_as = {"type": "agent", "id": agent["id"]}
    final = env.run({"image": "busybox", "command": ["write x y"], "run_as": run_as})
    assert final["status_reason"] == "committed"
    assert env.fakes.publisher.published[-1][2] == agent["id"]


def test_no_reachable_engine_answers_503(env: Env) -> None:
    env.fakes.runtime.available = False
    time.sleep(1.1)  # past the remembered answer
    r = env.client.post(env.base, json={"image": "busybox"}, headers=env.owner.auth)
    assert r.status_code == 503 and r.json()["code"] == "SANDBOXES_UNAVAILABLE"


def test_unknown_sandboxes_and_repositories_are_404(env: Env) -> None:
    for url in (f"{env.base}/nope", f"{env.base}/00000000-0000-4000-8000-000000000000/status"):
        assert env.client.get(url, headers=env.owner.auth).status_code == 404
    other = f"{API}/organizations/{env.org}/repositories/none/sandboxes"
    assert env.client.get(other, headers=env.owner.auth).status_code == 404
