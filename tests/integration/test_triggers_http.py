"""Sandbox triggers over raw HTTP on SQLite and PostgreSQL: the 7 operations, their errors,
and commits turning into runs (a launcher that keeps launches in memory)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from infra.bootstrap import Container
from infra.settings import Settings
from infra.triggers.launcher import MemoryLauncher
from interfaces.http.app import create_app
from tests.apps import lent_app
from tests.catalog_helpers import Repo, new_repo
from tests.orgs import API, add_member, assert_error, create_agent, person
from tests.triggers_env import (
    create_trigger,
    drain,
    runs,
    settled_runs,
    trigger_body,
    triggered_container,
)

TRIGGER_FIELDS = {
    "id", "repository_id", "name", "description", "enabled", "conditions", "sandbox_config",
    "run_as", "created_by", "created_at", "updated_at",
}  # fmt: skip
RUN_FIELDS = {
    "id", "repository_id", "trigger_id", "commit_id", "status", "reason", "sandbox_id",
    "matched_paths", "created_at", "updated_at",
}  # fmt: skip


@pytest.fixture
def launcher() -> MemoryLauncher:
    return MemoryLauncher()


@pytest.fixture
def container(backend: Settings, launcher: MemoryLauncher) -> Iterator[Container]:
    c = triggered_container(backend, launcher)
    yield c
    c.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient[Any]]:
    with lent_app(container) as app, TestClient(app, base_url="http://t.local") as c:
        yield c


@pytest.fixture
def repo(client: TestClient[Any], container: Container) -> Repo:
    return new_repo(container, client)


def test_create_get_list_update_toggle_delete(repo: Repo) -> None:
    base = f"{repo.base}/sandbox-triggers"
    created = create_trigger(repo, trigger_body("etl", description="nightly"))
    assert set(created) == TRIGGER_FIELDS
    assert created["enabled"] is True and created["run_as"] is None
    assert created["conditions"] == [{"type": "prefix", "prefix": "datasets/", "diff_type": "any"}]
    assert created["sandbox_config"] == {
        "image": "busybox:latest", "command": ["true"], "mountpoint": "/sandbox",
        "path_prefix": "", "env_vars": {},
    }  # fmt: skip
    tid = created["id"]
    assert repo.http.get(f"{base}/{tid}", headers=repo.auth).json() == created
    # The SDK's trigger.update(name=...) sends only the name: everything else stays.
    renamed = repo.http.put(f"{base}/{tid}", json={"name": "etl-2"}, headers=repo.auth)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "etl-2"
    assert renamed.json()["conditions"] == created["conditions"]
    assert renamed.json()["description"] == "nightly"
    assert renamed.json()["sandbox_config"] == created["sandbox_config"]
    toggled = repo.http.patch(f"{base}/{tid}", json={"enabled": False}, headers=repo.auth)
    assert toggled.status_code == 200 and toggled.json()["enabled"] is False
    for i in range(3):
        create_trigger(repo, trigger_body(f"t-{i}"))
    page = repo.http.get(base, params={"amount": 2}, headers=repo.auth).json()
    assert [t["name"] for t in page["results"]] == ["etl-2", "t-0"]
    assert page["pagination"]["has_more"] is True
    rest = repo.http.get(
        base, params={"amount": 2, "after": page["pagination"]["next_offset"]}, headers=repo.auth
    ).json()
    assert [t["name"] for t in rest["results"]] == ["t-1", "t-2"]
    assert rest["pagination"] == {"has_more": False, "next_offset": "", "max_per_page": 1000}
    assert repo.http.delete(f"{base}/{tid}", headers=repo.auth).status_code == 204
    assert_error(repo.http.get(f"{base}/{tid}", headers=repo.auth), 404, "NOT_FOUND")
    assert_error(repo.http.delete(f"{base}/{tid}", headers=repo.auth), 404)
    # The name is free again once its trigger is deleted.
    create_trigger(repo, trigger_body("etl-2"))


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"conditions": []}, "conditions"),
        ({"conditions": [{"type": "prefix", "prefix": "a/"}] * 11}, "at most 10"),
        ({"conditions": [{"type": "glob", "prefix": "a"}]}, "conditions[0]: type"),
        (
            {"conditions": [{"type": "prefix", "prefix": "a/"}, {"type": "path_exact"}]},
            "conditions[1]: path is required",
        ),
        (
            {"conditions": [{"type": "path_exact", "path": "a", "diff_type": "moved"}]},
            "conditions[0]: diff_type",
        ),
        ({"sandbox_config": {"command": ["x"]}}, "sandbox_config.image"),
        ({"sandbox_config": {"image": "busybox", "mode": "interactive"}}, "sandbox_config.mode"),
        ({"sandbox_config": {"image": "busybox", "run_as": {}}}, "sandbox_config.run_as"),
        ({"sandbox_config": {"image": "busybox", "timeout_seconds": 0}}, "timeout_seconds"),
        ({"sandbox_config": {"image": "busybox", "env_vars": {"A": 1}}}, "env_vars"),
        ({"name": "x" * 101}, "name"),
        ({"name": ""}, "name"),
        ({"run_as": {"type": "user", "id": "x"}}, "run_as.type"),
        ({"enabled": "yes"}, "enabled"),
    ],
)
def test_bad_bodies_answer_400_saying_what_is_wrong(
    repo: Repo, body: dict[str, Any], says: str
) -> None:
    response = repo.http.post(
        f"{repo.base}/sandbox-triggers", json={**trigger_body("bad"), **body}, headers=repo.auth
    )
    assert says in assert_error(response, 400, "BAD_REQUEST")["message"]


def test_lenient_where_the_sdk_is_and_conflicts_and_unknowns(repo: Repo) -> None:
    lenient = create_trigger(
        repo,
        trigger_body(
            "lenient",
            [{"type": "prefix", "prefix": "a/", "diff_type": "added"},
             {"type": "path_exact", "path": "b.csv", "diff_type": "modified"}],
        ),
    )  # fmt: skip
    assert lenient["conditions"][1]["diff_type"] == "changed"
    base = f"{repo.base}/sandbox-triggers"
    assert_error(repo.http.post(base, json=trigger_body("lenient"), headers=repo.auth), 409)
    other = create_trigger(repo, trigger_body("other"))
    renamed = repo.http.put(f"{base}/{other['id']}", json={"name": "lenient"}, headers=repo.auth)
    assert_error(renamed, 409, "CONFLICT")
    bad_update = repo.http.put(f"{base}/{other['id']}", json={"conditions": []}, headers=repo.auth)
    assert_error(bad_update, 400)
    for method in ("get", "put", "patch", "delete"):
        kw: dict[str, Any] = {"json": {"enabled": True}} if method in ("put", "patch") else {}
        answer = getattr(repo.http, method)(f"{base}/not-a-uuid", headers=repo.auth, **kw)
        assert_error(answer, 404)
    assert_error(repo.http.get(f"{base}/{'0' * 8}-0000-0000-0000-{'0' * 12}/runs",
                               headers=repo.auth), 404)  # fmt: skip
    missing_repo = f"{API}/organizations/{repo.org}/repositories/nope/sandbox-triggers"
    assert_error(repo.http.get(missing_repo, headers=repo.auth), 404)
    unknown_agent = {"type": "agent", "id": "6f1d1c1e-4b0e-5d0a-9a51-7e3d3c7a9b10"}
    answer = repo.http.post(base, json=trigger_body("as", run_as=unknown_agent), headers=repo.auth)
    assert "run_as" in assert_error(answer, 404)["message"]
    patch = repo.http.patch(f"{base}/{other['id']}", json={"enabled": "no"}, headers=repo.auth)
    assert_error(patch, 400)


def test_run_as_must_be_an_agent_the_creator_may_act_for(
    repo: Repo, client: TestClient[Any], container: Container
) -> None:
    agent = create_agent(client, repo.owner, repo.org)
    run_as = {"type": "agent", "id": agent["id"]}
    created = create_trigger(repo, trigger_body("as-agent", run_as=run_as))
    assert created["run_as"] == run_as
    member = person(container)
    add_member(client, repo.owner, repo.org, member)
    # A plain member may not mint the owner's agent's keys, so may not run as it either.
    answer = client.post(
        f"{repo.base}/sandbox-triggers",
        json=trigger_body("stolen", run_as=run_as),
        headers=member.auth,
    )
    assert answer.status_code == 403, answer.text


def test_a_commit_under_the_prefix_launches_one_sandbox_at_that_commit(
    repo: Repo, container: Container, launcher: MemoryLauncher
) -> None:
    trigger = create_trigger(repo, trigger_body("etl", env_vars=None))
    repo.write({"other/x.txt": b"x"})
    commit = repo.write({"datasets/a.csv": b"1,2\n", "datasets/b.csv": b"3\n", "x.txt": b"x"})
    [run] = settled_runs(repo, trigger["id"], 1)
    assert set(run) == RUN_FIELDS
    assert run["status"] == "created" and run["reason"] == "" and run["commit_id"] == commit
    assert run["matched_paths"] == ["datasets/a.csv", "datasets/b.csv"]
    request = launcher.sandboxes[run["sandbox_id"]]
    assert request.commit_id == commit and request.trigger_name == "etl"
    assert request.trigger_env == {
        "TILDE_TRIGGER_ID": trigger["id"], "TILDE_TRIGGER_NAME": "etl", "TILDE_COMMIT_ID": commit,
    }  # fmt: skip
    assert (request.principal_type, request.principal_id) == ("user", repo.owner.id)
    changes = [json.loads(line) for line in launcher.changes[run["sandbox_id"]]]
    assert changes == [
        {"path": "datasets/a.csv", "change": "added", "size": 4},
        {"path": "datasets/b.csv", "change": "added", "size": 2},
    ]
    drain(container)
    assert launcher.calls == 1 and len(runs(repo, trigger["id"])) == 1


def test_path_exact_diff_types(repo: Repo, container: Container) -> None:
    ids = {
        kind: create_trigger(
            repo, trigger_body(kind, [{"type": "path_exact", "path": "f.csv", "diff_type": kind}])
        )["id"]
        for kind in ("any", "added", "changed", "removed")
    }
    added = repo.write({"f.csv": b"1"})
    changed = repo.write({"f.csv": b"22"})
    repo.write({"g.csv": b"unrelated"})
    removed = repo.write({"f.csv": None})
    drain(container)
    fired = {kind: [r["commit_id"] for r in runs(repo, tid)] for kind, tid in ids.items()}
    assert fired == {
        "any": [removed, changed, added],  # newest first
        "added": [added],
        "changed": [changed],
        "removed": [removed],
    }


def test_disabled_records_nothing_and_reenabling_replays_nothing(
    repo: Repo, container: Container
) -> None:
    trigger = create_trigger(repo, trigger_body("etl"))
    base = f"{repo.base}/sandbox-triggers/{trigger['id']}"
    repo.http.patch(base, json={"enabled": False}, headers=repo.auth)
    repo.write({"datasets/missed.csv": b"1"})
    drain(container)
    repo.http.patch(base, json={"enabled": True}, headers=repo.auth)
    drain(container)
    assert runs(repo, trigger["id"]) == []
    later = repo.write({"datasets/later.csv": b"1"})
    [run] = settled_runs(repo, trigger["id"], 1)
    assert run["commit_id"] == later


def test_runs_page_newest_first(repo: Repo, container: Container) -> None:
    trigger = create_trigger(repo, trigger_body("etl"))
    commits = [repo.write({f"datasets/{i}.csv": b"1"}) for i in range(3)]
    settled_runs(repo, trigger["id"], 3)
    first = repo.http.get(
        f"{repo.base}/sandbox-triggers/{trigger['id']}/runs", params={"amount": 2},
        headers=repo.auth,
    ).json()  # fmt: skip
    assert [r["commit_id"] for r in first["results"]] == commits[::-1][:2]
    assert first["pagination"]["has_more"] is True
    rest = runs(repo, trigger["id"], amount=2, after=first["pagination"]["next_offset"])
    assert [r["commit_id"] for r in rest] == commits[:1]


def test_a_refused_launch_is_a_failed_run_with_the_reason(
    repo: Repo, launcher: MemoryLauncher
) -> None:
    launcher.refuse = "image busybox:latest is not allowed"
    trigger = create_trigger(repo, trigger_body("etl"))
    repo.write({"datasets/a.csv": b"1"})
    [run] = settled_runs(repo, trigger["id"], 1)
    assert run["status"] == "failed" and run["sandbox_id"] is None
    assert "image busybox:latest is not allowed" in run["reason"]


def test_the_default_launcher_creates_the_sandbox_through_the_sandboxes_service(
    backend: Settings,
) -> None:
    from infra.bootstrap import bootstrap
    from tests.conftest import FAST_HASHER
    from tests.docker_env import BUSYBOX_IMAGE, ensure_images

    ensure_images(python=False)
    container = bootstrap(backend, hasher=FAST_HASHER)  # the default (service) launcher
    try:
        with TestClient(create_app(container, run_background=True)) as client:
            repo = new_repo(container, client)
            body = trigger_body("etl")
            body["sandbox_config"] = {"image": BUSYBOX_IMAGE, "command": ["true"]}
            trigger = create_trigger(repo, body)
            repo.write({"datasets/a.csv": b"1"})
            [run] = settled_runs(repo, trigger["id"], 1)
            assert run["status"] == "created", run
            url = f"{repo.base}/sandboxes/{run['sandbox_id']}"
            deadline = time.monotonic() + 60
            while True:  # let it end before the container closes
                record = repo.http.get(url, headers=repo.auth).json()
                if record.get("status") not in (None, "starting", "running"):
                    break
                assert time.monotonic() < deadline, record
                time.sleep(0.2)
            assert (record["trigger_id"], record["trigger_name"]) == (trigger["id"], "etl")
            assert (record["status"], record["status_reason"]) == ("done", "no_changes"), record
    finally:
        container.close()
