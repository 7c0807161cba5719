""" "Changed" means the content changed (catalog issue #10): an entry's identity is its
ETag, size, content type and user metadata, not the storage address every upload gets.

A staged entry equal to its base is no change in the session's changes, a commit's diff,
`diff(c1, c2)` or conflict detection; a session (or an approval) whose net change is
empty answers 400 "nothing to commit", and reverting a commit that changed nothing
answers 400 "nothing to revert". Real uploads over HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from litestar.testing import TestClient

from application.principal import Principal
from domain.catalog.commits import Committer
from domain.catalog.staging import staged_put
from domain.shared.values import stamp
from infra.bootstrap import Container
from tests.builders import name
from tests.catalog_helpers import AGENT_POLICY, Repo, create_repository, md5
from tests.conftest import bearer
from tests.orgs import assert_error, create_agent, create_principal_key

DOC = b"the same bytes"


def _changes(repo: Repo, sid: str) -> list[tuple[str, str]]:
    return [(r["path"], r["status"]) for r in repo.changes(sid)["results"]]


def _diff(repo: Repo, **params: str) -> list[tuple[str, str]]:
    response = repo.diff(**params)
    assert response.status_code == 200, response.text
    return [(r["path"], r["status"]) for r in response.json()["results"]]


def _staged_addresses(container: Container, sid: str) -> set[str]:
    rows = container.catalog_db.query(
        "SELECT address FROM catalog_staged WHERE session_id = ?", (sid,)
    )
    return {r["address"] for r in rows}


def _nothing_to_commit(response: Any) -> None:
    body = assert_error(response, 400, "BAD_REQUEST")
    assert "nothing to commit" in body["message"], body


def test_identical_bytes_written_back_are_no_change(container: Container, repo: Repo) -> None:
    first = repo.write({"doc.txt": DOC, "meta.txt": b"m", "typed.txt": b"t"}, "v1")
    sid = repo.open_session()
    repo.upload(sid, "doc.txt", DOC)
    repo.upload(sid, "meta.txt", b"m", metadata={"k": "v"})  # metadata is content
    repo.upload(sid, "typed.txt", b"t", content_type="text/plain")  # and so is the type
    repo.upload(sid, "new.txt", b"n")
    # Every upload keeps an address of its own (garbage collection relies on it).
    assert len(_staged_addresses(container, sid)) == 4
    assert _changes(repo, sid) == [
        ("meta.txt", "modified"),
        ("new.txt", "added"),
        ("typed.txt", "modified"),
    ]
    second = repo.commit_ok(sid, "v2")
    changed = [("meta.txt", "modified"), ("new.txt", "added"), ("typed.txt", "modified")]
    assert _diff(repo, left=first, right=second) == changed
    assert _diff(repo, left=second, right=first) == [
        ("meta.txt", "modified"),
        ("new.txt", "removed"),
        ("typed.txt", "modified"),
    ]
    assert repo.commit_info(second)["id"] == second
    # The unchanged path kept its version: a log filtered to it shows only the first commit.
    assert [c["id"] for c in repo.log(object="doc.txt")["results"]] == [first]
    assert repo.read("doc.txt") == DOC

    # Content that goes away and comes back is no difference between the two ends.
    third = repo.write({"doc.txt": b"something else"}, "v3")
    fourth = repo.write({"doc.txt": DOC}, "v4")
    assert _diff(repo, left=second, right=fourth) == []
    assert _diff(repo, left=third, right=fourth) == [("doc.txt", "modified")]


def test_a_session_whose_changes_cancel_out_has_nothing_to_commit(
    container: Container, repo: Repo
) -> None:
    repo.write({"doc.txt": DOC}, "v1")
    empty = repo.open_session()
    _nothing_to_commit(repo.commit(empty))

    rewrite = repo.open_session()
    repo.upload(rewrite, "doc.txt", DOC)
    assert _changes(repo, rewrite) == []
    _nothing_to_commit(repo.commit(rewrite))

    put_then_delete = repo.open_session()
    repo.upload(put_then_delete, "a", b"short-lived")
    assert repo.delete(put_then_delete, "a").status_code == 204
    assert _changes(repo, put_then_delete) == []
    _nothing_to_commit(repo.commit(put_then_delete))

    changed_and_back = repo.open_session()
    repo.upload(changed_and_back, "doc.txt", b"other")
    repo.upload(changed_and_back, "doc.txt", DOC)
    _nothing_to_commit(repo.commit(changed_and_back))
    assert len(repo.log()["results"]) == 1


def test_conflicts_fire_only_on_paths_a_commit_changed(container: Container, repo: Repo) -> None:
    repo.write({"doc.txt": DOC}, "v1")
    # A wrote `p` and deleted it again (it never existed), and rewrote doc.txt unchanged;
    # B, opened before A's commit, writes both paths.
    a = repo.open_session()
    b = repo.open_session()
    repo.upload(a, "p", b"transient")
    assert repo.delete(a, "p").status_code == 204
    repo.upload(a, "doc.txt", DOC)
    repo.upload(a, "real.txt", b"real")
    repo.commit_ok(a, "a")
    repo.upload(b, "p", b"b's p")
    repo.upload(b, "doc.txt", b"b's doc")
    repo.commit_ok(b, "b")
    assert repo.read("p") == b"b's p" and repo.read("doc.txt") == b"b's doc"

    # The other order: a commit lands first; the unchanged rewrite of a later session
    # neither conflicts with it nor puts the old bytes back.
    c = repo.open_session()
    d = repo.open_session()
    repo.upload(c, "doc.txt", b"c's doc")
    repo.commit_ok(c, "c")
    repo.upload(d, "doc.txt", b"b's doc")  # d's base content, unchanged
    repo.upload(d, "other.txt", b"d")
    repo.commit_ok(d, "d")
    assert repo.read("doc.txt") == b"c's doc"

    # A real change still conflicts.
    e = repo.open_session()
    f = repo.open_session()
    repo.upload(e, "doc.txt", b"e")
    repo.upload(f, "doc.txt", b"f")
    repo.commit_ok(e, "e")
    assert_error(repo.commit(f, "f"), 409)


def _legacy_noop_commit(container: Container, repo: Repo, path: str) -> str:
    """A commit that rewrote `path` with the content it had, recorded as the catalog did
    before content identity (no net-change check); its id."""
    catalog = container.catalog
    org_id = container.resolve_organization(repo.org)
    principal = Principal("user", repo.owner.id, repo.owner.username, "bearer")
    sid = str(catalog.create_session(org_id, repo.name, principal).value.id)
    base = catalog.reads.session_entry(sid, path)
    assert base is not None
    entry = staged_put(
        path,
        address=catalog.blobs.new_address(str(catalog.get_repository(org_id, repo.name).id)),
        size=int(base["size"]),
        etag=base["etag"],
        content_type=base["content_type"],
        metadata=json.loads(base["metadata"]),
        last_modified=stamp(catalog.clock()),
    )
    catalog.stage(catalog.get_repository(org_id, repo.name), sid, [entry], principal.actor)
    aggregate = catalog.get_repository(org_id, repo.name)
    session = catalog.session(aggregate, sid)
    shards = catalog.shards(session)
    staged = [{"path": path, "op": "put", "address": entry["address"], "etag": entry["etag"]}]
    # The domain's commit, without the application's net-change check.
    new = session.commit(
        aggregate,
        shards,
        staged,
        message="legacy no-op",
        metadata={},
        committer=Committer(principal.actor, principal.name),
        closer=principal.actor,
        kind="session",
        timestamp=catalog.clock(),
    )
    container.wait_for([catalog.record(aggregate, session, *shards)])
    return new.commit_id


def test_reverting_a_commit_that_changed_nothing_is_refused(
    container: Container, repo: Repo
) -> None:
    repo.write({"doc.txt": DOC}, "v1")
    noop = _legacy_noop_commit(container, repo, "doc.txt")
    assert repo.log()["results"][0]["id"] == noop
    response = repo.http.post(f"{repo.base}/commits/{noop}/revert", json={}, headers=repo.auth)
    body = assert_error(response, 400, "BAD_REQUEST")
    assert "nothing to revert" in body["message"]

    # A catalog upgraded in place still holds the change row the old projection wrote.
    repo_id = str(
        container.catalog.get_repository(container.resolve_organization(repo.org), repo.name).id
    )
    seq = container.catalog.reads.commit_seq(repo_id, noop)
    with container.catalog_db.transaction() as cur:
        cur.execute(
            "INSERT INTO catalog_changes (repository_id, seq, path, op) VALUES (?,?,?,?)",
            (repo_id, seq, "doc.txt", "put"),
        )
    response = repo.http.post(f"{repo.base}/commits/{noop}/revert", json={}, headers=repo.auth)
    body = assert_error(response, 400, "BAD_REQUEST")
    assert "nothing to revert" in body["message"]
    assert repo.log()["results"][0]["id"] == noop
    assert repo.read("doc.txt") == DOC

    # A commit that changed something still reverts.
    changed = repo.write({"doc.txt": b"changed"}, "v3")
    reverted = repo.http.post(f"{repo.base}/commits/{changed}/revert", json={}, headers=repo.auth)
    assert reverted.status_code == 201, reverted.text
    assert repo.read("doc.txt") == DOC


def test_an_agents_net_empty_session_is_not_sent_for_approval(
    client: TestClient[Any], container: Container, repo: Repo
) -> None:
    owner_repo = Repo(
        client,
        repo.owner,
        repo.org,
        create_repository(client, repo.owner, repo.org, agents_require_approval=True)["name"],
    )
    owner_repo.write({"doc.txt": DOC}, "v1")
    agent = create_agent(client, repo.owner, repo.org, name("bot-"), inline_policy=AGENT_POLICY)
    key = create_principal_key(client, repo.owner, repo.org, "agents", agent["name"])
    as_agent = Repo(client, repo.owner, repo.org, owner_repo.name)
    as_agent.auth = bearer(key["token"])
    sid = as_agent.open_session()
    as_agent.upload(sid, "doc.txt", DOC)
    _nothing_to_commit(as_agent.commit(sid, "no change"))
    as_agent.upload(sid, "doc.txt", b"a real change")
    pending = as_agent.commit(sid, "a change")
    assert pending.status_code == 202, pending.text
    review = client.get(f"{owner_repo.base}/sessions/{sid}/approve", headers=repo.auth)
    (entry,) = review.json()["results"]
    assert entry["entry"]["e_tag"] == f'"{md5(b"a real change")}"'
