"""Staging reuses the shard this process saved last instead of reading its stream again; a
shard another process appended to meanwhile costs one conflict and a fresh read, never a lost
or refused staging, and a commit still seals it. Both backends."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from litestar.testing import TestClient

from application.principal import Principal
from domain.catalog.session import SHARDS
from domain.catalog.staging import StagingShard, shard_id, shard_of, staged_put
from domain.shared.errors import NotFound
from domain.shared.values import stamp
from infra.bootstrap import Container
from tests.catalog_helpers import Repo


def _same_shard_paths(count: int) -> list[str]:
    paths = [f"dir/file{i}.txt" for i in range(200)]
    index = shard_of(paths[0], SHARDS)
    return [p for p in paths if shard_of(p, SHARDS) == index][:count]


def test_a_shard_saved_elsewhere_meanwhile_costs_one_fresh_read_and_a_commit_seals_it(
    client: TestClient[Any], container: Container, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = container.catalog
    org_id = container.resolve_organization(repo.org)
    owner = Principal("user", repo.owner.id, repo.owner.username, "bearer")
    session_id = str(catalog.create_session(org_id, repo.name, owner).value.id)
    target = catalog.get_repository(org_id, repo.name)
    paths = _same_shard_paths(5)
    key = shard_id(session_id, shard_of(paths[0], SHARDS))
    reads: list[Any] = []
    find = catalog.find

    def counting_find(aggregate_id: Any, kind: type[Any]) -> Any:
        if kind is StagingShard:
            reads.append(aggregate_id)
        return find(aggregate_id, kind)

    monkeypatch.setattr(catalog, "find", counting_find)

    def stage(path: str) -> None:
        entry = staged_put(
            path,
            address=f"{target.id}/{'0' * 32}",
            size=1,
            etag="0" * 32,
            content_type="text/plain",
            metadata={},
            last_modified=stamp(catalog.clock()),
        )
        written = catalog.stage(target, session_id, [entry], owner.actor)
        container.wait_for(written)

    stage(paths[0])  # a new shard: looked up once (absent), then started
    stage(paths[1])  # the shard this process saved: no read
    assert reads == [key]
    # Another process appends to the shard: this process's copy is now one version behind.
    behind = copy.deepcopy(catalog._saved_shards[key])
    stage(paths[2])
    catalog._saved_shards[key] = behind
    stage(paths[3])  # conflicts on the version, then reads the shard fresh and lands
    assert reads == [key, key]
    staged = {row["path"] for row in catalog.reads.staged_changes(session_id)}
    assert staged == set(paths[:4])
    # A commit seals the shard: staging through the copy saved before it must not land.
    behind = copy.deepcopy(catalog._saved_shards[key])
    landed = catalog.commit(
        org_id, repo.name, session_id, message="sealed", metadata=None, principal=owner
    )
    container.wait_for(landed.written)
    catalog._saved_shards[key] = behind
    monkeypatch.setattr(catalog, "open_session", lambda *a, **k: None)  # only the shard decides
    with pytest.raises(NotFound):
        stage(paths[4])
    assert reads[-1] == key  # the stale copy conflicted; the fresh read found it sealed
    assert repo.get(paths[4]).status_code == 404
    assert {p for p in paths[:4] if repo.get(p).status_code == 307} == set(paths[:4])
