"""Trigger evaluation: exactly one run and one sandbox per (trigger, commit) whatever
happens (kill -9 around the launch, two workers, workers down during commits, rebuilds),
the loop and chain-depth guard, and the fire-time permission check."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from litestar.testing import TestClient

from application.triggers import EVALUATE
from domain.catalog.commits import Committer
from domain.catalog.session import Session
from domain.shared.values import Actor
from infra.bootstrap import Container
from infra.processes.queue import JobQueue
from infra.processes.worker import JobWorker
from infra.settings import Settings
from infra.triggers.launcher import MemoryLauncher
from interfaces.http.app import create_app
from tests.apps import lent_app
from tests.catalog_helpers import Repo, new_repo
from tests.orgs import API, add_member, attach, create_policy, person
from tests.triggers_env import (
    create_trigger,
    drain,
    runs,
    settled_runs,
    trigger_body,
    triggered_container,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def launcher() -> MemoryLauncher:
    return MemoryLauncher()


@pytest.fixture
def container(backend: Settings, launcher: MemoryLauncher) -> Iterator[Container]:
    c = triggered_container(backend.model_copy(update={"trigger_max_depth": 2}), launcher)
    yield c
    c.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient[Any]]:
    with lent_app(container) as app, TestClient(app, base_url="http://t.local") as c:
        yield c


@pytest.fixture
def repo(client: TestClient[Any], container: Container) -> Repo:
    return new_repo(container, client)


def sandbox_commit(
    container: Container, repo: Repo, sandbox_id: str, path: str, *, via_session: bool = False
) -> str:
    """A commit as the sandboxes context makes one: of the sandbox's own session (its id is
    the sandbox's), or of kind `sandbox` naming the sandbox in its metadata."""
    org_id = container.resolve_organization(repo.org)
    actor = Actor("user", repo.owner.id)
    if via_session:
        aggregate = container.catalog.get_repository(org_id, repo.name)
        session = Session.open(
            session_id=UUID(sandbox_id),
            organization_id=org_id,
            repository_id=str(aggregate.id),
            base_seq=aggregate.head_seq,
            actor=actor,
            purpose="sandbox",
        )
        container.catalog.record(session)
        sid = sandbox_id
    else:
        sid = repo.open_session()
    repo.upload(sid, path, b"output")
    result = container.catalog.commit_staged(
        org_id,
        repo.name,
        sid,
        message="sandbox output",
        metadata={} if via_session else {"tilde_sandbox_id": sandbox_id},
        committer=Committer(actor, repo.owner.username),
        closer=actor,
        kind="session" if via_session else "sandbox",
    )
    container.wait_for(result.written)
    return result.value.commit_id


@pytest.mark.parametrize("via_session", [False, True], ids=["metadata", "session"])
def test_loop_guard_and_chain_depth(repo: Repo, container: Container, via_session: bool) -> None:
    first = create_trigger(repo, trigger_body("first"))["id"]
    second = create_trigger(repo, trigger_body("second"))["id"]
    repo.write({"datasets/in.csv": b"1"})
    [run1] = settled_runs(repo, first, 1)
    [run2] = settled_runs(repo, second, 1)
    # The first trigger's sandbox commits under the prefix: not again for it, once for the
    # second (a chain of depth 2).
    out = sandbox_commit(
        container, repo, run1["sandbox_id"], "datasets/out1.csv", via_session=via_session
    )
    loop = wait_until(lambda: [r for r in runs(repo, first) if r["commit_id"] == out])
    assert loop[0]["status"] == "skipped" and "loop" in loop[0]["reason"]
    assert loop[0]["sandbox_id"] is None
    chained = wait_until(
        lambda: [r for r in runs(repo, second) if r["commit_id"] == out and r["sandbox_id"]]
    )
    # That sandbox's commit would make a chain of 3 (TILDE_TRIGGER_MAX_DEPTH=2 here).
    deep = sandbox_commit(
        container, repo, chained[0]["sandbox_id"], "datasets/out2.csv", via_session=via_session
    )
    drain(container)
    by_trigger = {
        tid: next(r for r in runs(repo, tid) if r["commit_id"] == deep) for tid in (first, second)
    }
    assert by_trigger[first]["status"] == "skipped"
    assert "chain depth limit" in by_trigger[first]["reason"]
    assert by_trigger[second]["status"] == "skipped" and "loop" in by_trigger[second]["reason"]
    assert run2["status"] == "created"


def test_a_creator_who_lost_the_right_gets_a_failed_run(
    repo: Repo, client: TestClient[Any], container: Container
) -> None:
    member = person(container)
    add_member(client, repo.owner, repo.org, member)
    policy = create_policy(client, repo.owner, repo.org, "CreateTrigger()\n", "triggerers")
    attach(client, repo.owner, repo.org, policy["id"], "user", member.id)
    answer = client.post(
        f"{repo.base}/sandbox-triggers", json=trigger_body("theirs"), headers=member.auth
    )
    assert answer.status_code == 201, answer.text
    removed = client.delete(
        f"{API}/organizations/{repo.org}/members/{member.id}", headers=repo.owner.auth
    )
    assert removed.status_code == 204, removed.text
    repo.write({"datasets/a.csv": b"1"})
    [run] = settled_runs(repo, answer.json()["id"], 1)
    assert run["status"] == "failed" and run["sandbox_id"] is None
    assert "may no longer CreateSandbox" in run["reason"]


def test_commits_made_while_no_worker_runs_fire_when_one_returns(
    repo: Repo, container: Container, launcher: MemoryLauncher
) -> None:
    trigger = create_trigger(repo, trigger_body("etl"))["id"]
    worker = container.services["trigger_evaluator"]
    worker.stop()
    commits = [repo.write({f"datasets/{i}.csv": b"1"}) for i in range(3)]
    time.sleep(0.5)
    assert runs(repo, trigger) == [] and launcher.calls == 0
    worker.start()
    found = settled_runs(repo, trigger, 3)
    assert sorted(r["commit_id"] for r in found) == sorted(commits)
    assert {r["status"] for r in found} == {"created"} and launcher.calls == 3


def test_two_workers_never_launch_twice(
    repo: Repo, container: Container, launcher: MemoryLauncher
) -> None:
    evaluator = container.services["trigger_evaluator"].perform[EVALUATE]
    second = JobWorker(
        JobQueue(container.db, "trigger-evaluation", container.metrics),
        {EVALUATE: evaluator},
        poll_interval=0.01,
    )
    second.start()
    try:
        triggers = [create_trigger(repo, trigger_body(f"t-{i}"))["id"] for i in range(2)]
        commits = [repo.write({f"datasets/{i}.csv": b"1"}) for i in range(8)]
        drain(container)
        for trigger in triggers:
            found = settled_runs(repo, trigger, len(commits))
            assert sorted(r["commit_id"] for r in found) == sorted(commits)
        assert len(launcher.sandboxes) == 16 and launcher.calls == 16
    finally:
        second.stop()


def test_rebuilt_views_equal_incremental_ones_and_a_rebuild_launches_nothing(
    repo: Repo, container: Container, launcher: MemoryLauncher
) -> None:
    trigger = create_trigger(repo, trigger_body("etl"))["id"]
    other = create_trigger(repo, trigger_body("other"))["id"]
    repo.http.put(
        f"{repo.base}/sandbox-triggers/{other}", json={"name": "renamed"}, headers=repo.auth
    )
    repo.http.patch(
        f"{repo.base}/sandbox-triggers/{other}", json={"enabled": False}, headers=repo.auth
    )
    for i in range(3):
        repo.write({f"datasets/{i}.csv": b"1"})
    settled_runs(repo, trigger, 3)
    drain(container)

    def dump() -> dict[str, list[dict[str, Any]]]:
        return {
            table: container.db.query(f"SELECT * FROM {table} ORDER BY id")
            for table in ("sandbox_triggers", "sandbox_trigger_runs")
        }

    queue = (
        "SELECT id, done_at FROM process_jobs WHERE process = ? ORDER BY id",
        ("trigger-evaluation",),
    )
    jobs = container.db.query(*queue)
    before = dump()
    report = container.projections.rebuild([])
    rebuilt = {r["projection"] for r in report}
    assert {"sandbox_triggers", "sandbox_trigger_runs"} <= rebuilt
    assert "trigger-evaluation" not in rebuilt
    drain(container)
    time.sleep(0.3)
    assert dump() == before
    assert container.db.query(*queue) == jobs and len(jobs) == 3
    assert launcher.calls == 3


# -- kill -9 of a worker process around the launch ------------------------------------------


class TriggerWorker:
    def __init__(self, settings: Settings, folder: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TILDE_")}
        env.update(settings.to_environment())
        env["PYTHONPATH"] = str(ROOT)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.trigger_worker", str(folder)],
            env=env,
            cwd=str(ROOT),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: (folder / f"ready-{self.proc.pid}").exists(), 60, "worker ready")

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.mark.parametrize("where", ["hold-before", "hold-after"])
def test_a_worker_killed_around_the_launch_leaves_exactly_one_sandbox(
    backend: Settings, tmp_path: Path, where: str
) -> None:
    folder = tmp_path / "launches"
    folder.mkdir()
    (folder / where).touch()
    settings = backend.model_copy(update={"trigger_poll_interval": 0.05})
    api = triggered_container(settings.model_copy(update={"role": "api"}), MemoryLauncher())
    workers: list[TriggerWorker] = []
    try:
        with TestClient(create_app(api, run_background=False)) as client:
            first = TriggerWorker(settings, folder)
            workers.append(first)
            repo = new_repo(api, client)
            trigger = create_trigger(repo, trigger_body("etl"))["id"]
            commit = repo.write({"datasets/a.csv": b"1"})
            stage = "started" if where == "hold-before" else "launched"
            wait_until(lambda: (folder / f"{stage}-{first.proc.pid}").exists(), 30, "a launch")
            first.kill9()
            (folder / where).unlink()
            workers.append(TriggerWorker(settings, folder))
            [run] = wait_until(
                lambda: [r for r in runs(repo, trigger) if r["status"] == "created"], 30
            )
            sandboxes = os.listdir(folder / "sandboxes")
            assert sandboxes == [run["sandbox_id"]] and run["commit_id"] == commit
            assert (folder / "sandboxes" / sandboxes[0]).read_text() == commit
            calls = (folder / "calls").read_text().split()
            # (pid, sandbox id) per call: one call per worker, one sandbox.
            assert calls[1::2] == [run["sandbox_id"]] * 2 and calls[0] != calls[2]
            assert len(runs(repo, trigger)) == 1
    finally:
        for worker in workers:
            worker.stop()
        api.close()
