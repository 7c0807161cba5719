"""The one commit path: a revert stages its inverse in a session of its own and commits it
like any session, so a commit landing in between is a conflict (409) that leaves nothing
open, and a successful revert is an ordinary commit of a closed session. Both backends."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from application.base import Result
from application.principal import Principal
from domain.catalog.staging import staged_delete
from domain.shared.values import stamp
from infra.bootstrap import Container
from tests.catalog_helpers import Repo
from tests.orgs import assert_error


def _sessions(container: Container, purpose: str) -> list[dict[str, Any]]:
    return container.catalog_db.query(
        "SELECT id, status FROM catalog_sessions WHERE purpose = ?", (purpose,)
    )


def test_a_revert_that_loses_to_a_commit_in_between_answers_409_and_leaves_no_open_session(
    client: TestClient[Any], container: Container, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.write({"doc.txt": b"v1"}, "v1")
    change = repo.write({"doc.txt": b"v2"}, "v2")
    catalog = container.catalog
    org_id = container.resolve_organization(repo.org)
    owner = Principal("user", repo.owner.id, repo.owner.username, "bearer")
    open_staged = catalog.open_staged
    injected: list[str] = []

    def commit_in_between(*args: Any, **kwargs: Any) -> Result[Any]:
        staged = open_staged(*args, **kwargs)
        # Another writer deletes doc.txt after the revert checked its paths, before it commits.
        other = str(catalog.create_session(org_id, repo.name, owner).value.id)
        target = catalog.get_repository(org_id, repo.name)
        now = stamp(catalog.clock())
        catalog.stage(target, other, [staged_delete("doc.txt", now)], owner.actor)
        landed = catalog.commit(
            org_id, repo.name, other, message="in between", metadata=None, principal=owner
        )
        container.wait_for(landed.written)
        injected.append(landed.value.commit_id)
        return staged

    monkeypatch.setattr(catalog, "open_staged", commit_in_between)
    lost = client.post(f"{repo.base}/commits/{change}/revert", json={}, headers=repo.auth)
    body = assert_error(lost, 409, "CONFLICT")
    assert "cannot revert" in body["message"], body
    assert len(injected) == 1
    assert repo.log()["results"][0]["id"] == injected[0]  # no revert commit landed
    assert repo.get("doc.txt").status_code == 404  # the delete in between stands
    revert_sessions = _sessions(container, f"revert {change}")
    assert [s["status"] for s in revert_sessions] == ["rolled_back"]


def test_a_revert_is_a_commit_of_its_own_closed_session(container: Container, repo: Repo) -> None:
    repo.write({"doc.txt": b"v1"}, "v1")
    change = repo.write({"doc.txt": b"v2", "new.txt": b"n"}, "v2")
    reverted = repo.http.post(f"{repo.base}/commits/{change}/revert", json={}, headers=repo.auth)
    assert reverted.status_code == 201, reverted.text
    revert_id = reverted.json()["commit_id"]
    info = repo.commit_info(revert_id)
    assert info["parents"] == [change] and info["metadata"] == {"reverts": change}
    assert info["message"] == 'Revert "v2"'
    assert repo.read("doc.txt") == b"v1" and repo.get("new.txt").status_code == 404
    (session,) = _sessions(container, f"revert {change}")
    assert session["status"] == "committed"
    row = container.catalog_db.query_one(
        "SELECT session_id FROM catalog_commits WHERE id = ?", (revert_id,)
    )
    assert row is not None and row["session_id"] == session["id"]
    # Reads through the revert's session see what it committed, like any session's.
    assert repo.read("doc.txt", session_id=session["id"]) == b"v1"
