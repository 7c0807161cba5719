"""A run's changes, end to end without Docker: the commit's tree (idmapped hard links) under
an overlay, a shell as the sandbox uid changing files, the upper layer collected, published
into the sandbox's session and committed through the one commit path. Both backends."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from application.principal import Principal
from domain.catalog.session import Session
from domain.shared.values import Actor
from infra.bootstrap import Container
from infra.sandboxes.changes import OverlayChangeCollector
from infra.sandboxes.publish import CatalogPublisher
from tests.builders import name
from tests.catalog_helpers import AGENT_POLICY, Repo, create_repository
from tests.orgs import create_agent
from tests.sandbox_trees import as_sandbox, entries, overlay, tree_store, unmount_under

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")


@pytest.fixture(autouse=True)
def _unmount(tmp_path: Path) -> Iterator[None]:
    yield
    unmount_under(tmp_path)


def _owner(repo: Repo) -> Principal:
    return Principal("user", repo.owner.id, repo.owner.username, "sandbox")


def _open_session(container: Container, repo: Repo, principal: Principal) -> tuple[str, str]:
    """The sandbox's session (its id is the sandbox's), opened at the head: (id, org id)."""
    org_id = container.resolve_organization(repo.org)
    target = container.catalog.get_repository(org_id, repo.name)
    sandbox_id = uuid.uuid4()
    session = Session.open(
        session_id=sandbox_id,
        organization_id=org_id,
        repository_id=str(target.id),
        base_seq=target.head_seq,
        actor=Actor(principal.type, principal.id),
        purpose="sandbox",
    )
    container.catalog.record(session)
    return str(sandbox_id), org_id


class Run:
    """One sandbox run on `repo`'s head: tree, overlay, script, collect, publish."""

    def __init__(self, container: Container, repo: Repo, tmp_path: Path) -> None:
        self.container, self.repo, self.tmp = container, repo, tmp_path

    def __call__(
        self,
        script: str,
        *,
        prefix: str = "",
        principal: Principal | None = None,
        before_publish: Any = None,
    ) -> Any:
        principal = principal or _owner(self.repo)
        sid, org_id = _open_session(self.container, self.repo, principal)
        repo_id = str(self.container.catalog.get_repository(org_id, self.repo.name).id)
        head = self.repo.log()["results"][0]["id"] if self.repo.log()["results"] else ""
        store = tree_store(self.container, self.tmp)
        lower = store.tree(repo_id, head, prefix, entries(self.container, repo_id, head, prefix))
        with overlay(lower, self.tmp / sid) as ov:
            ran = as_sandbox(script, ov.merged)
            assert ran.returncode == 0, ran.stderr
        if before_publish:
            before_publish()
        publisher = CatalogPublisher(self.container.catalog)
        args = dict(
            org_id=org_id,
            repo_name=self.repo.name,
            session_id=sid,
            principal=principal,
            path_prefix=prefix,
            image="busybox:test",
            command=["sh", "-c", script],
        )
        out = publisher.publish(changes=OverlayChangeCollector().changes(ov.upper, lower), **args)
        self.container.wait_for(out.written)
        again = publisher.publish(changes=iter(()), **args)  # a retry after a crash
        assert (again.kind, again.commit_id) == (out.kind, out.commit_id)
        store.release(repo_id, head, prefix)
        store.close()
        return out


@pytest.fixture
def run(container: Container, repo: Repo, tmp_path: Path) -> Run:
    return Run(container, repo, tmp_path)


def test_a_run_commits_its_adds_modifies_and_deletes_with_sandbox_metadata(
    run: Run, repo: Repo
) -> None:
    repo.write({"a.txt": b"A", "b.txt": b"B", "same.txt": b"S", "d/x": b"x", "d/y": b"y"})
    out = run(
        "echo -n A2 > a.txt; rm b.txt; echo -n new > c.json; cat same.txt > s && mv s same.txt;"
        " rm -r d; mkdir d; echo -n x > d/x"
    )
    assert out.kind == "committed" and out.commit_id
    log = repo.log()["results"]
    assert log[0]["id"] == out.commit_id and len(log) == 2
    meta = log[0]["metadata"]
    assert meta["image"] == "busybox:test" and json.loads(meta["command"])[0] == "sh"
    assert meta["sandbox_id"]
    assert log[0]["committer_type"] == "user" and log[0]["committer_id"] == repo.owner.id
    assert repo.read("a.txt") == b"A2" and repo.read("c.json") == b"new"
    assert repo.read("d/x") == b"x" and repo.read("same.txt") == b"S"
    for gone in ("b.txt", "d/y"):
        assert repo.get(gone).status_code == 404
    changed = {
        c["path"] for c in repo.diff(left=log[1]["id"], right=log[0]["id"]).json()["results"]
    }
    assert changed == {"a.txt", "b.txt", "c.json", "d/y"}  # same.txt and d/x: no change
    assert repo.head("c.json").headers["content-type"].startswith("application/json")


def test_nothing_changed_is_no_changes_and_no_commit(run: Run, repo: Repo) -> None:
    repo.write({"a.txt": b"A"})
    out = run("cat a.txt > /dev/null; touch a.txt; cp a.txt t && mv t a.txt")
    assert out.kind == "no_changes" and not out.commit_id
    assert len(repo.log()["results"]) == 1


def test_path_prefix_maps_changes_back_under_it(run: Run, repo: Repo) -> None:
    repo.write({"data/in.csv": b"1", "data/old": b"o", "other/keep": b"k"})
    out = run("ls; test -f in.csv; echo -n 2 > out.csv; rm old", prefix="data/")
    assert out.kind == "committed"
    assert repo.read("data/out.csv") == b"2"
    assert repo.get("data/old").status_code == 404
    assert repo.get("out.csv").status_code == 404 and repo.read("other/keep") == b"k"


def test_a_concurrent_commit_on_the_same_path_is_a_conflict_naming_it(run: Run, repo: Repo) -> None:
    repo.write({"shared.txt": b"v1", "mine.txt": b"m"})
    out = run(
        "echo -n sandbox > shared.txt; echo -n 2 > mine.txt",
        before_publish=lambda: repo.write({"shared.txt": b"elsewhere"}),
    )
    assert out.kind == "conflict" and out.conflicts == ("shared.txt",)
    assert repo.read("shared.txt") == b"elsewhere" and repo.read("mine.txt") == b"m"


def test_an_agent_on_a_repository_that_requires_approval_awaits_it(
    client: TestClient[Any], container: Container, repo: Repo, tmp_path: Path
) -> None:
    gated = Repo(
        client,
        repo.owner,
        repo.org,
        create_repository(client, repo.owner, repo.org, agents_require_approval=True)["name"],
    )
    gated.write({"seed": b"s"})
    agent = create_agent(client, repo.owner, repo.org, name("bot-"), inline_policy=AGENT_POLICY)
    bot = Principal("agent", agent["id"], agent["name"], "sandbox")
    out = Run(container, gated, tmp_path)("echo -n r > result", principal=bot)
    assert out.kind == "awaiting_approval" and not out.commit_id
    assert len(gated.log()["results"]) == 1 and gated.get("result").status_code == 404


def test_a_name_that_cannot_be_an_object_is_refused_clearly(run: Run, repo: Repo) -> None:
    from domain.shared.errors import Invalid

    repo.write({"a": b"a"})
    with pytest.raises(Invalid, match="not an object name"):
        run("echo -n x > \"$(printf 'bad\\001name')\"")


def test_the_runner_adapter_publishes_what_the_sandbox_names(
    container: Container, repo: Repo, tmp_path: Path
) -> None:
    from types import SimpleNamespace

    from infra.sandboxes.publish import SandboxPublisher

    repo.write({"data/a": b"a"})
    sid, org_id = _open_session(container, repo, _owner(repo))
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "b").write_bytes(b"b")
    sandbox = SimpleNamespace(
        id=uuid.UUID(sid),
        organization_id=org_id,
        repository_name=repo.name,
        path_prefix="data",
        image="img",
        command=None,
    )
    publisher = SandboxPublisher(container.catalog, lambda *a: "/".join(a))
    out = publisher.publish(
        sandbox, OverlayChangeCollector().changes(upper, tmp_path), _owner(repo)
    )
    assert out.kind == "committed"
    assert repo.read("data/b") == b"b"
    assert repo.log()["results"][0]["metadata"] == {
        "sandbox_id": sid,
        "image": "img",
        "command": "",
    }
