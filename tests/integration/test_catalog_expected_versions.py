"""A finalize right after its PUT object stages without reading the repository and the session
again: it checks them as last read here and the append expects their versions. If either
moved meanwhile (another process committed the session, deleted the repository), the append
fails as a lost race, writes nothing, and the retry answers from a fresh read. Both backends."""

from __future__ import annotations

import copy
from typing import Any
from uuid import UUID

import pytest
from litestar.testing import TestClient

from infra.bootstrap import Container
from tests.catalog_helpers import Repo


class Spy:
    """Counts the catalog's reads of a repository with its session, its staging saves, and
    what the no-read check answered."""

    def __init__(self, container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
        catalog = container.catalog
        self.reads = 0
        self.saves = 0
        self.held: list[bool] = []
        read, held = catalog.repository_and_session, catalog.held_repository_and_session
        save = catalog._staging_saves.save

        def counting_read(*args: Any) -> Any:
            self.reads += 1
            return read(*args)

        def noting_held(*args: Any) -> Any:
            answer = held(*args)
            self.held.append(answer is not None)
            return answer

        def counting_save(*args: Any) -> Any:
            self.saves += 1
            return save(*args)

        monkeypatch.setattr(catalog, "repository_and_session", counting_read)
        monkeypatch.setattr(catalog._staging_saves, "save", counting_save)
        monkeypatch.setattr(catalog, "held_repository_and_session", noting_held)


def staged_paths(container: Container, sid: str) -> set[str]:
    return {row["path"] for row in container.catalog.reads.staged_changes(sid)}


def prepared(repo: Repo, sid: str, path: str, data: bytes) -> dict[str, Any]:
    """PUT object and the bytes; the finalize body, not yet sent."""
    grant = repo.start_upload(sid, path)
    assert repo.put_bytes(grant["upload_url"], data).status_code == 200
    return {"upload_token": grant["upload_token"], "size_bytes": len(data)}


def test_a_finalize_after_its_put_object_reads_nothing_and_lands(
    client: TestClient[Any], container: Container, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = repo.open_session()
    repo.upload(sid, "a/first.txt", b"first")  # the session's first use of its shard
    spy = Spy(container, monkeypatch)
    for i in range(3):
        repo.upload(sid, f"a/more{i}.txt", f"more {i}".encode())
    assert spy.held == [True, True, True]  # every finalize checked them as last read here
    assert spy.reads == 3  # only the PUT objects read the repository and the session
    assert spy.saves == 3  # each expected append landed at once (none lost a race)
    assert staged_paths(container, sid) == {"a/first.txt", "a/more0.txt", "a/more1.txt",
                                            "a/more2.txt"}  # fmt: skip
    repo.commit_ok(sid)
    assert repo.read("a/more2.txt") == b"more 2"


def test_a_session_committed_elsewhere_fails_the_expected_append_and_stages_nothing(
    client: TestClient[Any], container: Container, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = container.catalog
    sid = repo.open_session()
    repo.upload(sid, "b/kept.txt", b"kept")
    late = prepared(repo, sid, "b/late.txt", b"late")
    # Another process commits the session: this process's cached session is one step behind.
    cache = catalog.repository.cache
    assert cache is not None
    behind = copy.deepcopy(cache.get(UUID(sid)))
    repo.commit_ok(sid)
    cache.put(UUID(sid), behind)
    spy = Spy(container, monkeypatch)
    stale = repo.finalize(sid, "b/late.txt", late)
    assert spy.held == [True]  # it went the no-read way, and its append was refused
    again = repo.finalize(sid, "b/late.txt", late)  # now as a fresh read answers
    assert [(r.status_code, r.json()["code"], r.json()["message"]) for r in (stale, again)] == [
        (404, "NOT_FOUND", "session not found or already closed")
    ] * 2
    assert spy.reads >= 1  # the retry read them
    assert staged_paths(container, sid) == set()  # the commit took "kept"; "late" never landed
    assert repo.get("b/late.txt").status_code == 404
    assert repo.read("b/kept.txt") == b"kept"


def test_a_repository_deleted_elsewhere_fails_the_expected_append(
    client: TestClient[Any], container: Container, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = container.catalog
    org_id = container.resolve_organization(repo.org)
    sid = repo.open_session()
    repo.upload(sid, "c/one.txt", b"one")
    late = prepared(repo, sid, "c/two.txt", b"two")
    repo_id = catalog.get_repository(org_id, repo.name).id
    cache = catalog.repository.cache
    assert cache is not None
    behind = copy.deepcopy(cache.get(repo_id))
    deleted = client.delete(repo.base, headers=repo.auth)
    assert deleted.status_code == 204, deleted.text
    cache.put(repo_id, behind)
    spy = Spy(container, monkeypatch)
    stale = repo.finalize(sid, "c/two.txt", late)
    assert spy.held == [True]
    assert stale.status_code == 404, stale.text
    assert stale.json()["code"] == "NOT_FOUND"
    assert "c/two.txt" not in staged_paths(container, sid)
