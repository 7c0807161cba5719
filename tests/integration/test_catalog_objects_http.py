"""Objects inside a session over raw HTTP, as COMPAT §3/§4 and the reference describe
them: delete, copy and bulk delete, listings (prefix, delimiter, cursor, ref, session),
the session's changes, and path validation on every object route.

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


def test_delete_copy_and_bulk_delete(client: TestClient[Any], repo: Repo) -> None:
    repo.write({"a.txt": b"alpha", "b.txt": b"beta", "c.txt": b"gamma"}, "seed")
    sid = repo.open_session()

    gone = repo.delete(sid, "a.txt")
    assert gone.status_code == 204, gone.text
    assert_error(repo.delete(sid, "missing.txt"), 404)
    assert_error(repo.delete(sid, "a.txt"), 404)  # already deleted in this session
    assert repo.get("a.txt", session_id=sid).status_code == 404
    assert repo.get("a.txt").status_code == 307  # the head keeps it until the commit
    assert_error(client.delete(f"{repo.base}/object?path=a.txt", headers=repo.auth), 400)

    copied = client.post(
        f"{repo.base}/object/copy",
        params={"session_id": sid, "source_path": "b.txt", "destination_path": "copies/b.txt"},
        headers=repo.auth,
    )
    assert copied.status_code == 201, copied.text
    assert copied.json() == {"source_path": "b.txt", "destination_path": "copies/b.txt"}
    source = repo.head("b.txt", session_id=sid)
    copy = repo.head("copies/b.txt", session_id=sid)
    assert copy.status_code == 200 and copy.headers["etag"] == source.headers["etag"]
    assert repo.read("copies/b.txt", session_id=sid) == b"beta"
    no_source = client.post(
        f"{repo.base}/object/copy",
        params={"session_id": sid, "source_path": "a.txt", "destination_path": "x.txt"},
        headers=repo.auth,
    )
    assert_error(no_source, 404)
    assert_error(
        client.post(
            f"{repo.base}/object/copy",
            params={"session_id": sid, "source_path": "b.txt"},
            headers=repo.auth,
        ),
        400,
    )

    bulk = client.post(
        f"{repo.base}/objects/delete",
        params={"session_id": sid},
        json={"paths": ["b.txt", "c.txt", "never-existed.txt"]},
        headers=repo.auth,
    )
    assert bulk.status_code == 200, bulk.text
    assert bulk.json() == {"deleted": 2}
    for count in (0, 1001):
        paths = [f"p/{i}" for i in range(count)]
        refused = client.post(
            f"{repo.base}/objects/delete",
            params={"session_id": sid},
            json={"paths": paths},
            headers=repo.auth,
        )
        assert_error(refused, 400)
    most = client.post(
        f"{repo.base}/objects/delete",
        params={"session_id": sid},
        json={"paths": [f"p/{i}" for i in range(1000)]},
        headers=repo.auth,
    )
    assert most.status_code == 200 and most.json() == {"deleted": 0}

    statuses = {r["path"]: r["status"] for r in repo.changes(sid)["results"]}
    assert statuses == {
        "a.txt": "removed",
        "b.txt": "removed",
        "c.txt": "removed",
        "copies/b.txt": "added",
    }
    repo.commit_ok(sid, "shuffle")
    assert names(repo.objects()) == ["copies/b.txt"]
    assert repo.read("copies/b.txt") == b"beta"


def test_listings_by_prefix_delimiter_cursor_ref_and_session(
    client: TestClient[Any], repo: Repo
) -> None:
    files = {
        "a.txt": b"1",
        "dir/x.txt": b"2",
        "dir/y.txt": b"3",
        "dir/sub/z.txt": b"4",
        "dir2/w.txt": b"5",
        "e.txt": b"6",
    }
    first = repo.write(files, "tree")

    assert names(repo.objects()) == sorted(files)
    top = repo.objects(delimiter="/")
    assert [(r["path"], r["type"]) for r in top["results"]] == [
        ("a.txt", "object"),
        ("dir/", "prefix"),
        ("dir2/", "prefix"),
        ("e.txt", "object"),
    ]
    assert top["common_prefixes"] == ["dir/", "dir2/"]
    assert "entry" not in top["results"][1]
    assert top["results"][0]["entry"]["size"] == 1
    inner = repo.objects(prefix="dir/", delimiter="/")
    assert names(inner) == ["dir/sub/", "dir/x.txt", "dir/y.txt"]
    assert inner["common_prefixes"] == ["dir/sub/"]
    assert names(repo.objects(prefix="dir/")) == ["dir/sub/z.txt", "dir/x.txt", "dir/y.txt"]
    assert names(repo.objects(prefix="dir")) == [
        "dir/sub/z.txt",
        "dir/x.txt",
        "dir/y.txt",
        "dir2/w.txt",
    ]
    assert names(repo.objects(after="dir/x.txt")) == ["dir/y.txt", "dir2/w.txt", "e.txt"]
    # A prefix entry as the cursor skips everything under it.
    assert names(repo.objects(delimiter="/", after="dir/")) == ["dir2/", "e.txt"]

    # Keyset pagination: has_more → a non-empty cursor; pages join up in order, no repeats.
    for delimiter in (None, "/"):
        collected: list[str] = []
        params: dict[str, Any] = {"amount": 2}
        if delimiter:
            params["delimiter"] = delimiter
        while True:
            page = repo.objects(**params)
            assert len(page["results"]) <= 2
            collected += names(page)
            if not page["pagination"]["has_more"]:
                break
            assert page["pagination"]["next_offset"] == names(page)[-1]
            params["after"] = page["pagination"]["next_offset"]
        expected = sorted(files) if not delimiter else names(top)
        assert collected == expected

    # Session listings show staged changes over the base; refs show history.
    sid = repo.open_session()
    repo.upload(sid, "dir/new.txt", b"7")
    assert repo.delete(sid, "a.txt").status_code == 204
    in_session = repo.objects(session_id=sid)
    assert names(in_session) == sorted((set(files) - {"a.txt"}) | {"dir/new.txt"})
    assert names(repo.objects(session_id=sid, prefix="dir/", delimiter="/")) == [
        "dir/new.txt",
        "dir/sub/",
        "dir/x.txt",
        "dir/y.txt",
    ]
    assert names(repo.objects(session_id=sid, amount=1)) == ["dir/new.txt"]
    assert names(repo.objects()) == sorted(files)  # the head is untouched
    repo.commit_ok(sid, "more")
    assert names(repo.objects(ref=first)) == sorted(files)
    assert "dir/new.txt" in names(repo.objects())
    # Paging a session whose deletions hide whole pages of its base.
    repo.write({f"m/{i:02d}.txt": b"x" for i in range(30)}, "many")
    sid2 = repo.open_session()
    hidden = [f"m/{i:02d}.txt" for i in range(20) if i != 7]
    deleted = client.post(
        f"{repo.base}/objects/delete",
        params={"session_id": sid2},
        json={"paths": hidden},
        headers=repo.auth,
    )
    assert deleted.json() == {"deleted": len(hidden)}
    repo.upload(sid2, "m/25b.txt", b"y")
    repo.upload(sid2, "m/99.txt", b"z")
    expected = sorted(
        {f"m/{i:02d}.txt" for i in range(30)} - set(hidden) | {"m/25b.txt", "m/99.txt"}
    )
    for amount in (1, 3, 100):
        walked: list[str] = []
        params = {"session_id": sid2, "prefix": "m/", "amount": amount}
        while True:
            page = repo.objects(**params)
            walked += names(page)
            if not page["pagination"]["has_more"]:
                break
            params["after"] = page["pagination"]["next_offset"]
        assert walked == expected, amount
    assert_error(client.get(f"{repo.base}/objects?amount=0", headers=repo.auth), 400)
    assert_error(client.get(f"{repo.base}/objects?prefix=/abs", headers=repo.auth), 400)


def test_changes_list_statuses_by_prefix_and_page(repo: Repo) -> None:
    repo.write({"keep.txt": b"k", "mod.txt": b"before", "del.txt": b"d"}, "base")
    sid = repo.open_session()
    repo.upload(sid, "mod.txt", b"after")
    assert repo.delete(sid, "del.txt").status_code == 204
    repo.upload(sid, "sub/add.txt", b"added")
    repo.upload(sid, "tmp.txt", b"temporary")
    assert repo.delete(sid, "tmp.txt").status_code == 204  # added then removed: no change

    changes = repo.changes(sid)
    assert [(r["path"], r["status"]) for r in changes["results"]] == [
        ("del.txt", "removed"),
        ("mod.txt", "modified"),
        ("sub/add.txt", "added"),
    ]
    removed = changes["results"][0]["entry"]
    assert removed["e_tag"] == f'"{md5(b"d")}"'  # what was removed
    assert changes["results"][1]["entry"]["e_tag"] == f'"{md5(b"after")}"'
    assert [r["path"] for r in repo.changes(sid, prefix="sub/")["results"]] == ["sub/add.txt"]
    first = repo.changes(sid, amount=2)
    assert len(first["results"]) == 2 and first["pagination"]["has_more"] is True
    rest = repo.changes(sid, amount=2, after=first["pagination"]["next_offset"])
    assert [r["path"] for r in rest["results"]] == ["sub/add.txt"]
    assert rest["pagination"]["has_more"] is False
    assert_error(repo.http.get(f"{repo.base}/changes", headers=repo.auth), 400)
    missing = repo.http.get(
        f"{repo.base}/changes",
        params={"session_id": "7b0a4f52-7c53-4c3e-9f0d-3f1c1e9d2a10"},
        headers=repo.auth,
    )
    assert_error(missing, 404)


BAD_PATHS = [
    "",
    "a//b",
    "a/",
    "a/../b",
    "..",
    "./a",
    "a\x00b",
    "a\x07b",
    "tab\there",
    "del\x7f",
    "/leading",
    "x" * 1025,
    "é" * 513,  # 1026 bytes of UTF-8
]


def test_object_paths_are_validated(client: TestClient[Any], repo: Repo) -> None:
    sid = repo.open_session()
    for path in BAD_PATHS:
        params = {"session_id": sid, "path": path}
        url = f"{repo.base}/object"
        assert_error(client.put(url, params=params, headers=repo.auth), 400)
        assert_error(client.get(url, params=params, headers=repo.auth), 400)
        assert client.head(url, params=params, headers=repo.auth).status_code == 400
        assert_error(client.delete(url, params=params, headers=repo.auth), 400)
        assert_error(client.post(f"{url}/multipart", params=params, headers=repo.auth), 400)
        copy = client.post(
            f"{url}/copy",
            params={"session_id": sid, "source_path": "ok.txt", "destination_path": path},
            headers=repo.auth,
        )
        assert_error(copy, 400)
        bulk = client.post(
            f"{repo.base}/objects/delete",
            params={"session_id": sid},
            json={"paths": ["fine.txt", path]},
            headers=repo.auth,
        )
        assert_error(bulk, 400)
        assert_error(
            client.get(f"{repo.base}/log", params={"object": path or "/"}, headers=repo.auth), 400
        )
    assert repo.changes(sid)["results"] == []

    # The limits themselves are fine: 1024 bytes, any printable Unicode, dots inside names.
    longest = "d/" + "x" * 1022
    odd = "spaces and ümlauts/ünïcødé ☃.txt"
    dotted = "a/.hidden/..b/c."
    for path in (longest, odd, dotted):
        repo.upload(sid, path, path.encode())
    repo.commit_ok(sid)
    for path in (longest, odd, dotted):
        assert repo.read(path) == path.encode()
    assert names(repo.objects()) == sorted([longest, odd, dotted])
