"""Commits and history over raw HTTP, as COMPAT §3/§4 and the reference describe them:
commit conflicts and landing on a moved head, the log, diffs (between commits and
against a session) and revert.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture) with the local blob
store, through the in-process TestClient."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.catalog_helpers import (
    Repo,
    md5,
    names,
)
from tests.orgs import (
    assert_error,
)


def test_commit_conflicts_and_landing_on_a_moved_head(client: TestClient[Any], repo: Repo) -> None:
    base = repo.write({"shared.txt": b"v0", "other.txt": b"o"}, "base")
    first, second = repo.open_session(), repo.open_session()
    repo.upload(first, "shared.txt", b"from first")
    repo.upload(second, "shared.txt", b"from second")
    won = repo.commit_ok(first, "first wins")
    conflict = repo.commit(second, "second loses")
    body = assert_error(conflict, 409, "CONFLICT")
    assert "shared.txt" in body["message"]
    assert repo.rollback(second).status_code == 204  # still deletable after the 409
    assert repo.rollback(second).status_code == 204  # idempotent
    assert_error(repo.commit(second, "too late"), 404)
    assert repo.read("shared.txt") == b"from first"

    # Sessions over different paths: the later commit lands on top of the moved head.
    third, fourth = repo.open_session(), repo.open_session()
    repo.upload(third, "third.txt", b"3")
    repo.upload(fourth, "fourth.txt", b"4")
    assert repo.delete(fourth, "other.txt").status_code == 204
    landed_third = repo.commit_ok(third, "third")
    landed_fourth = repo.commit_ok(fourth, "fourth", metadata={"ticket": "T-1"})
    assert repo.commit_info(landed_third)["parents"] == [won]
    info = repo.commit_info(landed_fourth)
    assert info["parents"] == [landed_third]
    assert info["message"] == "fourth" and info["metadata"] == {"ticket": "T-1"}
    assert info["committer_type"] == "user" and info["committer_id"] == repo.owner.id
    assert info["committer"] == repo.owner.username and info["is_stale"] is False
    assert names(repo.objects()) == ["fourth.txt", "shared.txt", "third.txt"]
    assert repo.commit_info(won)["parents"] == [base]
    assert repo.commit_info(base)["parents"] == []

    # Bad commits.
    empty = repo.open_session()
    assert_error(repo.commit(empty, "nothing"), 400)
    repo.upload(empty, "z.txt", b"z")
    no_message = client.post(f"{repo.base}/sessions/{empty}", json={}, headers=repo.auth)
    assert_error(no_message, 400)
    bad_meta = repo.http.post(
        f"{repo.base}/sessions/{empty}",
        json={"message": "m", "metadata": {"n": 1}},
        headers=repo.auth,
    )
    assert_error(bad_meta, 400)
    assert_error(repo.commit("7b0a4f52-7c53-4c3e-9f0d-3f1c1e9d2a10"), 404)
    assert_error(repo.rollback("7b0a4f52-7c53-4c3e-9f0d-3f1c1e9d2a10"), 404)
    assert_error(client.get(f"{repo.base}/commits/deadbeef", headers=repo.auth), 404)
    committed = repo.commit_ok(empty, "z")
    assert_error(repo.commit(empty, "again"), 404)
    assert repo.commit_info(committed)["parents"] == [landed_fourth]


def test_the_log_newest_first_with_cursor_ref_and_filters(repo: Repo) -> None:
    ids = [
        repo.write({"a/1.txt": b"1"}, "one"),
        repo.write({"b/2.txt": b"2"}, "two"),
        repo.write({"a/1.txt": b"1b"}, "three"),
        repo.write({"c/3.txt": b"3", "a/4.txt": b"4"}, "four"),
        repo.write({"b/2.txt": None}, "five"),
    ]
    newest_first = list(reversed(ids))
    log = repo.log()
    assert [c["id"] for c in log["results"]] == newest_first
    assert [c["message"] for c in log["results"]] == ["five", "four", "three", "two", "one"]
    assert all(c["is_stale"] is False for c in log["results"])
    assert log["results"][0]["parents"] == [ids[3]] and log["results"][-1]["parents"] == []
    assert set(log["results"][0]) >= {
        "id",
        "committer",
        "committer_type",
        "committer_id",
        "message",
        "creation_date",
        "parents",
        "metadata",
        "is_stale",
    }

    collected: list[str] = []
    params: dict[str, Any] = {"amount": 2}
    while True:
        page = repo.log(**params)
        collected += [c["id"] for c in page["results"]]
        if not page["pagination"]["has_more"]:
            break
        assert page["pagination"]["next_offset"] == page["results"][-1]["id"]
        params["after"] = page["pagination"]["next_offset"]
    assert collected == newest_first

    assert [c["id"] for c in repo.log(ref=ids[2])["results"]] == [ids[2], ids[1], ids[0]]
    assert [c["id"] for c in repo.log(ref=ids[2], amount=1)["results"]] == [ids[2]]
    assert [c["id"] for c in repo.log(prefix="a/")["results"]] == [ids[3], ids[2], ids[0]]
    assert [c["id"] for c in repo.log(object="b/2.txt")["results"]] == [ids[4], ids[1]]
    assert [c["id"] for c in repo.log(object="a/1.txt", ref=ids[1])["results"]] == [ids[0]]
    assert repo.log(prefix="zzz/")["results"] == []
    assert_error(repo.http.get(f"{repo.base}/log?ref=nope", headers=repo.auth), 404)


def test_diffs_between_commits_and_against_a_session(client: TestClient[Any], repo: Repo) -> None:
    c1 = repo.write({"keep.txt": b"k", "mod.txt": b"m1", "dir/del.txt": b"d"}, "c1")
    c2 = repo.write(
        {"mod.txt": b"m2", "dir/del.txt": None, "dir/add.txt": b"a", "dir/sub/x.txt": b"x"},
        "c2",
    )

    def diff(**params: Any) -> dict[str, Any]:
        response = repo.diff(**params)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    result = diff(left=c1, right=c2)
    assert [(r["path"], r["status"], r["type"]) for r in result["results"]] == [
        ("dir/add.txt", "added", "object"),
        ("dir/del.txt", "removed", "object"),
        ("dir/sub/x.txt", "added", "object"),
        ("mod.txt", "modified", "object"),
    ]
    assert result["results"][3]["entry"]["e_tag"] == f'"{md5(b"m2")}"'
    assert result["pagination"]["max_per_page"] >= 1000
    # The reverse direction swaps added and removed.
    reverse = diff(left=c2, right=c1)
    assert {r["path"]: r["status"] for r in reverse["results"]} == {
        "dir/add.txt": "removed",
        "dir/del.txt": "added",
        "dir/sub/x.txt": "removed",
        "mod.txt": "modified",
    }
    # Missing left (the SDK's root-commit diff) = against the empty tree.
    root = diff(right=c1)
    assert [(r["path"], r["status"]) for r in root["results"]] == [
        ("dir/del.txt", "added"),
        ("keep.txt", "added"),
        ("mod.txt", "added"),
    ]
    assert [r["path"] for r in diff(left=c1, right=c2, prefix="dir/")["results"]] == [
        "dir/add.txt",
        "dir/del.txt",
        "dir/sub/x.txt",
    ]
    grouped = diff(left=c1, right=c2, delimiter="/")
    assert [(r["path"], r["type"]) for r in grouped["results"]] == [
        ("dir/", "prefix"),
        ("mod.txt", "object"),
    ]
    nested = diff(left=c1, right=c2, prefix="dir/", delimiter="/")
    assert [(r["path"], r.get("status")) for r in nested["results"]] == [
        ("dir/add.txt", "added"),
        ("dir/del.txt", "removed"),
        ("dir/sub/", None),
    ]
    paged: list[str] = []
    params: dict[str, Any] = {"left": c1, "right": c2, "amount": 1}
    while True:
        page = diff(**params)
        assert len(page["results"]) == 1
        paged.append(page["results"][0]["path"])
        if not page["pagination"]["has_more"]:
            break
        params["after"] = page["pagination"]["next_offset"]
    assert paged == ["dir/add.txt", "dir/del.txt", "dir/sub/x.txt", "mod.txt"]
    assert diff(left=c2, right=c2)["results"] == []

    sid = repo.open_session()
    repo.upload(sid, "keep.txt", b"k2")
    repo.upload(sid, "brand-new.txt", b"b")
    assert repo.delete(sid, "mod.txt").status_code == 204
    staged = diff(session_id=sid)
    assert [(r["path"], r["status"]) for r in staged["results"]] == [
        ("brand-new.txt", "added"),
        ("keep.txt", "modified"),
        ("mod.txt", "removed"),
    ]
    assert [r["path"] for r in diff(session_id=sid, prefix="k")["results"]] == ["keep.txt"]

    assert_error(repo.diff(left="nope", right=c2), 404)
    assert_error(repo.diff(left=c1, right="nope"), 404)
    assert_error(repo.diff(session_id="7b0a4f52-7c53-4c3e-9f0d-3f1c1e9d2a10"), 404)


def test_revert_undoes_one_commit_unless_later_commits_touched_its_paths(
    client: TestClient[Any], repo: Repo
) -> None:
    root = repo.write({"a.txt": b"a1", "b.txt": b"b1"}, "root")
    change = repo.write({"a.txt": b"a2", "b.txt": None, "c.txt": b"c"}, "change things")
    unrelated = repo.write({"z.txt": b"z"}, "unrelated")

    assert_error(client.post(f"{repo.base}/commits/{root}/revert", headers=repo.auth), 400)
    assert_error(client.post(f"{repo.base}/commits/deadbeef/revert", headers=repo.auth), 404)

    reverted = client.post(f"{repo.base}/commits/{change}/revert", json={}, headers=repo.auth)
    assert reverted.status_code == 201, reverted.text
    assert set(reverted.json()) == {"commit_id"}
    revert_id = reverted.json()["commit_id"]
    info = repo.commit_info(revert_id)
    assert info["message"] == 'Revert "change things"'
    assert info["parents"] == [unrelated]
    assert repo.read("a.txt") == b"a1" and repo.read("b.txt") == b"b1"
    assert_error(repo.get("c.txt"), 404)
    assert repo.read("z.txt") == b"z"
    statuses = {
        r["path"]: r["status"] for r in repo.diff(left=unrelated, right=revert_id).json()["results"]
    }
    assert statuses == {"a.txt": "modified", "b.txt": "added", "c.txt": "removed"}

    # Reverting `change` again conflicts: the revert itself touched its paths since.
    conflict = client.post(f"{repo.base}/commits/{change}/revert", headers=repo.auth)
    body = assert_error(conflict, 409, "CONFLICT")
    for path in ("a.txt", "b.txt", "c.txt"):
        assert path in body["message"]

    # A later commit touching one path is enough to conflict; message and metadata apply.
    touched = repo.write({"y.txt": b"y1"}, "add y")
    repo.write({"y.txt": b"y2"}, "edit y")
    assert (
        "y.txt"
        in assert_error(
            client.post(f"{repo.base}/commits/{touched}/revert", headers=repo.auth), 409
        )["message"]
    )
    custom = client.post(
        f"{repo.base}/commits/{unrelated}/revert",
        json={"message": "drop z", "metadata": {"why": "mistake"}},
        headers=repo.auth,
    )
    assert custom.status_code == 201, custom.text
    custom_info = repo.commit_info(custom.json()["commit_id"])
    assert custom_info["message"] == "drop z" and custom_info["metadata"]["why"] == "mistake"
    assert_error(repo.get("z.txt"), 404)
