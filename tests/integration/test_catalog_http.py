"""The catalog over raw HTTP, as COMPAT §3/§4 and the reference describe it: repositories,
sessions, uploads, reads, listings, commits, log, diff, revert, multipart and approval.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture) with the local blob store.
Most go through the in-process TestClient (it routes the absolute blob URLs to the app, whatever
their host); the byte-level download checks use a live server whose URLs point at itself."""

from __future__ import annotations

import re
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from domain.shared.values import utcnow
from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from interfaces.http.app import create_app
from tests.builders import name
from tests.catalog_helpers import (
    AGENT_POLICY,
    OCTETS,
    Clock,
    Repo,
    create_repository,
    live_container,
    md5,
    multipart_etag,
    names,
    new_repo,
    repo_base,
    with_own_port,
)
from tests.conftest import FAST_HASHER, bearer
from tests.orgs import (
    API,
    assert_error,
    create_agent,
    create_org,
    create_principal_key,
    person,
)

QUOTED_MD5 = re.compile(r'^"[0-9a-f]{32}"$')
RESULT = b'{"ok": true}'


@pytest.fixture
def repo(client: TestClient[Any], container: Container) -> Repo:
    return new_repo(container, client)


# -- repositories -------------------------------------------------------------------------


def test_repository_create_get_update_and_settings(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org = create_org(client, owner)["name"]
    base = f"{API}/organizations/{org}/repositories"

    plain = create_repository(client, owner, org, "plain")
    assert plain["name"] == "plain" and plain["retention_days"] == 14
    assert plain["description"] == "" and plain["agents_require_approval"] is False
    assert plain["created_by_type"] == "user" and plain["created_by"] == owner.id
    assert plain["organization_id"] and plain["id"] and plain["created_at"].endswith("Z")

    # Older clients' fields (visibility, session_max_duration_days) and unknown fields are
    # accepted and returned as given.
    custom = create_repository(
        client,
        owner,
        org,
        "custom",
        description="datasets",
        visibility="public",
        retention_days=30,
        session_max_duration_days=3,
        agents_require_approval=True,
        flavour="vanilla",
    )
    assert custom["visibility"] == "public" and custom["description"] == "datasets"
    assert custom["retention_days"] == 30 and custom["session_max_duration_days"] == 3
    assert custom["agents_require_approval"] is True and custom["flavour"] == "vanilla"

    got = client.get(f"{base}/custom", headers=owner.auth)
    assert got.status_code == 200 and got.json() == custom

    # Update answers the full repository, changed fields merged in.
    updated = client.put(
        f"{base}/custom",
        json={"description": "new words", "retention_days": 7, "agents_require_approval": False},
        headers=owner.auth,
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body == {
        **custom,
        "description": "new words",
        "retention_days": 7,
        "agents_require_approval": False,
    }
    assert client.get(f"{base}/custom", headers=owner.auth).json() == body

    assert_error(client.post(base, json={"name": "plain"}, headers=owner.auth), 409, "CONFLICT")
    assert_error(client.post(base, json={"name": "Bad Name!"}, headers=owner.auth), 400)
    assert_error(client.post(base, json={"description": "x"}, headers=owner.auth), 400)
    assert_error(
        client.post(base, json={"name": "r0", "retention_days": 0}, headers=owner.auth), 400
    )
    assert_error(
        client.put(f"{base}/custom", json={"retention_days": "ten"}, headers=owner.auth), 400
    )
    assert_error(client.get(f"{base}/missing", headers=owner.auth), 404, "NOT_FOUND")


def test_repository_lists_paginate_by_keyset_per_org_and_across_orgs(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    first = create_org(client, owner)["name"]
    second = create_org(client, owner, f"{first}-labs")["name"]  # extends the first's name
    for repo in ("r-a", "r-b", "r-c", "r-d", "r-e"):
        create_repository(client, owner, first, repo)
    create_repository(client, owner, second, "elsewhere")
    stranger = person(container)
    theirs = create_org(client, stranger)["name"]
    create_repository(client, stranger, theirs, "private-stuff")

    base = f"{API}/organizations/{first}/repositories"
    seen: list[str] = []
    params: dict[str, Any] = {"amount": 2}
    pages = 0
    while True:
        response = client.get(base, params=params, headers=owner.auth)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        assert len(body["results"]) <= 2
        for r in body["results"]:
            assert r["organization_slug"] == first
            seen.append(r["name"])
        if not body["pagination"]["has_more"]:
            break
        assert body["pagination"]["next_offset"], body["pagination"]
        params["after"] = body["pagination"]["next_offset"]
    assert seen == ["r-a", "r-b", "r-c", "r-d", "r-e"] and pages == 3
    # A bare repository name works as the cursor too (what the reference's examples show).
    after_b = client.get(base, params={"after": "r-b", "amount": 100}, headers=owner.auth).json()
    assert [r["name"] for r in after_b["results"]] == ["r-c", "r-d", "r-e"]
    assert after_b["pagination"]["has_more"] is False

    everywhere = client.get(f"{API}/repositories", params={"amount": 1000}, headers=owner.auth)
    assert everywhere.status_code == 200, everywhere.text
    pairs = {(r["organization_slug"], r["name"]) for r in everywhere.json()["results"]}
    assert pairs == {(first, n) for n in ("r-a", "r-b", "r-c", "r-d", "r-e")} | {
        (second, "elsewhere")
    }
    assert all(r["organization_display_name"] for r in everywhere.json()["results"])
    # The stranger sees only their own repository.
    theirs_only = client.get(f"{API}/repositories", headers=stranger.auth).json()
    assert [r["name"] for r in theirs_only["results"]] == ["private-stuff"]
    # Paginated across organizations too, one repository per page: nothing skipped.
    walked: list[tuple[str, str]] = []
    params = {"amount": 1}
    while True:
        page = client.get(f"{API}/repositories", params=params, headers=owner.auth).json()
        walked += [(r["organization_slug"], r["name"]) for r in page["results"]]
        if not page["pagination"]["has_more"]:
            break
        assert page["pagination"]["next_offset"]
        params["after"] = page["pagination"]["next_offset"]
    assert walked == sorted(pairs)


def test_a_deleted_repository_is_gone_and_its_name_is_free(
    client: TestClient[Any], container: Container, repo: Repo
) -> None:
    repo.write({"kept.txt": b"old data"}, "before delete")
    old = client.get(f"{API}/organizations/{repo.org}/repositories/{repo.name}", headers=repo.auth)
    gone = client.delete(
        f"{API}/organizations/{repo.org}/repositories/{repo.name}", headers=repo.auth
    )
    assert gone.status_code == 204, gone.text
    assert_error(client.get(repo.base, headers=repo.auth), 404, "NOT_FOUND")
    assert_error(repo.get("kept.txt"), 404)
    assert_error(client.post(f"{repo.base}/sessions", headers=repo.auth), 404)
    listed = client.get(f"{API}/organizations/{repo.org}/repositories", headers=repo.auth)
    assert repo.name not in [r["name"] for r in listed.json()["results"]]
    assert_error(client.delete(repo.base, headers=repo.auth), 404)

    reborn = create_repository(client, repo.owner, repo.org, repo.name)
    assert reborn["id"] != old.json()["id"]
    # A fresh history: nothing of the old repository shows through.
    assert repo.log()["results"] == []
    assert_error(repo.get("kept.txt"), 404)


# -- sessions, uploads and reads ----------------------------------------------------------


def test_single_upload_finalize_checks_and_reads(client: TestClient[Any], repo: Repo) -> None:
    created = client.post(f"{repo.base}/sessions", headers=repo.auth)  # no body, no type
    assert created.status_code == 201 and set(created.json()) == {"session_id"}
    sid = created.json()["session_id"]

    grant = repo.start_upload(sid, "data/file.csv")
    assert set(grant) == {"upload_url", "upload_token"}
    assert grant["upload_url"].startswith(("http://", "https://")), grant  # absolute
    data = b"id,value\n1,2\n"
    sent = repo.put_bytes(grant["upload_url"], data)
    assert sent.status_code == 200, sent.text
    assert sent.headers["etag"] == f'"{md5(data)}"'

    # Wrong checksum or size: 400 and nothing staged.
    for bad in ({"checksum": "0" * 32}, {"size_bytes": len(data) + 1}, {"size_bytes": -1}):
        body = {"upload_token": grant["upload_token"], **bad}
        assert_error(repo.finalize(sid, "data/file.csv", body), 400, "BAD_REQUEST")
        assert repo.changes(sid)["results"] == []
    # A token is bound to its session and path.
    other = repo.finalize(sid, "data/other.csv", {"upload_token": grant["upload_token"]})
    assert_error(other, 400)
    assert_error(repo.finalize(sid, "data/file.csv", {"upload_token": "forged"}), 400)
    assert repo.changes(sid)["results"] == []
    # Nothing uploaded yet behind a fresh token.
    unused = repo.start_upload(sid, "data/empty.csv")
    assert_error(
        repo.finalize(sid, "data/empty.csv", {"upload_token": unused["upload_token"]}), 400
    )

    done = repo.finalize(
        sid,
        "data/file.csv",
        {
            "upload_token": grant["upload_token"],
            "checksum": md5(data),
            "size_bytes": len(data),
            "content_type": "text/csv",
            "metadata": {"owner": "team-a", "stage": "raw"},
        },
    )
    assert done.status_code == 201, done.text
    assert done.json() == {"path": "data/file.csv", "etag": f'"{md5(data)}"'}
    (change,) = repo.changes(sid)["results"]
    assert change["path"] == "data/file.csv" and change["status"] == "added"
    assert change["entry"]["size"] == len(data) and change["entry"]["e_tag"] == f'"{md5(data)}"'
    assert change["entry"]["content_type"] == "text/csv"

    # Inside the session: a 307 to a short-lived URL, and HEAD answers 200 directly.
    read = repo.get("data/file.csv", session_id=sid)
    assert read.status_code == 307, read.text
    assert read.headers["cache-control"] == "no-store"
    assert read.headers["location"].startswith(("http://", "https://"))
    target = client.get(read.headers["location"])  # no Authorization
    assert target.status_code == 200 and target.content == data
    head = repo.head("data/file.csv", session_id=sid)
    assert head.status_code == 200
    assert head.headers["etag"] == f'"{md5(data)}"'
    assert head.headers["content-type"].startswith("text/csv")
    assert head.headers["content-length"] == str(len(data))
    assert head.headers["x-tilde-meta-owner"] == "team-a"
    assert head.headers["x-tilde-meta-stage"] == "raw"
    assert head.headers["last-modified"].endswith(" GMT")  # an HTTP-date
    modified = parsedate_to_datetime(head.headers["last-modified"])
    assert abs((modified - utcnow()).total_seconds()) < 300
    assert head.content == b""

    # Outside the session the upload is invisible until the commit.
    assert_error(repo.get("data/file.csv"), 404, "NOT_FOUND")
    assert repo.head("data/file.csv").status_code == 404
    other_sid = repo.open_session()
    assert repo.get("data/file.csv", session_id=other_sid).status_code == 404
    assert repo.objects()["results"] == []

    repo.commit_ok(sid, "add file")
    assert repo.read("data/file.csv") == data
    head = repo.head("data/file.csv")
    assert head.status_code == 200 and head.headers["x-tilde-meta-owner"] == "team-a"
    # The committed session is closed; the older session still sees its base (no file).
    assert_error(repo.commit(sid), 404)
    assert repo.get("data/file.csv", session_id=other_sid).status_code == 404

    # A session of another repository is unknown here.
    elsewhere = create_repository(client, repo.owner, repo.org)["name"]
    foreign = Repo(client, repo.owner, repo.org, elsewhere)
    assert_error(foreign.get("data/file.csv", session_id=other_sid), 404)
    assert_error(
        client.put(
            f"{foreign.base}/object",
            params={"session_id": other_sid, "path": "x"},
            headers=repo.auth,
        ),
        404,
    )
    assert_error(foreign.commit(other_sid), 404)
    # 404s: unknown path, session, ref; missing path → 400.
    assert_error(repo.get("data/nope.csv"), 404)
    assert_error(repo.get("data/file.csv", session_id="not-a-session"), 404)
    assert_error(repo.get("data/file.csv", session_id="7b0a4f52-7c53-4c3e-9f0d-3f1c1e9d2a10"), 404)
    assert_error(repo.get("data/file.csv", ref="deadbeef"), 404)
    assert_error(client.get(f"{repo.base}/object", headers=repo.auth), 400)
    assert_error(repo.get("data/file.csv", ref="x", session_id=other_sid), 400)
    unknown_repo = repo_base(repo.org, "no-such-repo")
    assert_error(client.get(f"{unknown_repo}/object?path=a", headers=repo.auth), 404)
    # Uploading into a missing session is a 404.
    missing = client.put(
        f"{repo.base}/object",
        params={"session_id": "7b0a4f52-7c53-4c3e-9f0d-3f1c1e9d2a10", "path": "a"},
        headers=repo.auth,
    )
    assert_error(missing, 404)
    assert_error(client.put(f"{repo.base}/object?path=a", headers=repo.auth), 400)


def test_object_metadata_must_fit_in_response_headers(client: TestClient[Any], repo: Repo) -> None:
    sid = repo.open_session()
    refused = [
        {"bad key": "v"},
        {"": "v"},
        {"Ünï": "v"},
        {"k:colon": "v"},
        {"k": "line1\r\nX-Injected: yes"},
        {"k": "nul\x00"},
        {"k": 1},
    ]
    for metadata in refused:
        grant = repo.start_upload(sid, "m.txt")
        sent = repo.put_bytes(grant["upload_url"], b"m")
        body = {"upload_token": grant["upload_token"], "checksum": md5(b"m"), "metadata": metadata}
        assert_error(repo.finalize(sid, "m.txt", body), 400)
    assert repo.changes(sid)["results"] == []
    fine = {"Owner-Team": "data eng", "x_y.z~1": "a=b; c=d", "tabbed": "a\tb"}
    repo.upload(sid, "m.txt", b"m", metadata=fine)
    head = repo.head("m.txt", session_id=sid)
    assert head.status_code == 200
    assert head.headers["x-tilde-meta-owner-team"] == "data eng"
    assert head.headers["x-tilde-meta-x_y.z~1"] == "a=b; c=d"
    (entry,) = repo.changes(sid)["results"]
    assert entry["entry"]["metadata"] == fine
    assert sent.status_code == 200


def test_metadata_outside_latin1_is_served_rfc2047_encoded(
    client: TestClient[Any], repo: Repo
) -> None:
    sid = repo.open_session()
    grant = repo.start_upload(sid, "snow.txt")
    repo.put_bytes(grant["upload_url"], b"s")
    body = {"upload_token": grant["upload_token"], "metadata": {"k": "snow \u2603"}}
    finalized = repo.finalize(sid, "snow.txt", body)
    assert finalized.status_code == 201, finalized.text
    head = repo.head("snow.txt", session_id=sid)
    assert head.status_code == 200, head.headers
    # As S3 does: RFC 2047 encoded-word, which email.header decodes back.
    from email.header import decode_header, make_header

    assert str(make_header(decode_header(head.headers["x-tilde-meta-k"]))) == "snow \u2603"


def test_reads_at_an_older_commit_by_ref(client: TestClient[Any], repo: Repo) -> None:
    first = repo.write({"doc.txt": b"version one", "gone.txt": b"short-lived"}, "v1")
    second = repo.write({"doc.txt": b"version two!", "gone.txt": None, "new.txt": b"n"}, "v2")

    assert repo.read("doc.txt") == b"version two!"
    assert repo.read("doc.txt", ref=first) == b"version one"
    assert repo.read("doc.txt", ref=second) == b"version two!"
    assert repo.read("gone.txt", ref=first) == b"short-lived"
    assert_error(repo.get("gone.txt"), 404)
    assert_error(repo.get("new.txt", ref=first), 404)
    head = repo.head("doc.txt", ref=first)
    assert head.status_code == 200 and head.headers["etag"] == f'"{md5(b"version one")}"'
    assert names(repo.objects(ref=first)) == ["doc.txt", "gone.txt"]
    assert names(repo.objects(ref=second)) == ["doc.txt", "new.txt"]
    assert names(repo.objects()) == ["doc.txt", "new.txt"]
    assert_error(client.get(f"{repo.base}/objects?ref=nope", headers=repo.auth), 404)


def test_downloads_honour_ranges_on_a_live_server(backend: Settings) -> None:
    with (
        live_container(with_own_port(backend)) as (container, server),
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        repo = new_repo(container, http)
        data = bytes(range(256)) * 40  # 10240 bytes
        sid = repo.open_session()
        repo.upload(sid, "bin/blob.dat", data, content_type="application/x-custom")
        repo.commit_ok(sid)

        read = repo.get("bin/blob.dat")
        assert read.status_code == 307 and read.headers["cache-control"] == "no-store"
        location = read.headers["location"]
        assert location.startswith(server.url + "/"), location  # absolute, on this server

        plain = httpx.get(location)  # a fresh client: no Authorization at all
        assert plain.status_code == 200 and plain.content == data
        assert plain.headers["etag"] == f'"{md5(data)}"'
        assert plain.headers["content-type"].startswith("application/x-custom")
        assert plain.headers["content-length"] == str(len(data))

        part = httpx.get(location, headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == data[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
        assert part.headers["content-length"] == "100"
        assert part.headers["etag"] == f'"{md5(data)}"'
        tail = httpx.get(location, headers={"Range": "bytes=10000-"})
        assert tail.status_code == 206 and tail.content == data[10000:]
        assert tail.headers["content-range"] == f"bytes 10000-10239/{len(data)}"
        suffix = httpx.get(location, headers={"Range": "bytes=-16"})
        assert suffix.status_code == 206 and suffix.content == data[-16:]
        beyond = httpx.get(location, headers={"Range": f"bytes={len(data)}-"})
        assert beyond.status_code == 416
        assert beyond.headers["content-range"] == f"bytes */{len(data)}"

        # Following the redirect like the SDK (Authorization kept: same origin).
        followed = http.get(
            f"{repo.base}/object",
            params={"path": "bin/blob.dat"},
            headers={**repo.auth, "Range": "bytes=0-3"},
            follow_redirects=True,
        )
        assert followed.status_code == 206 and followed.content == data[:4]

        # A tampered download URL is refused.
        forged = httpx.get(location[:-3] + ("AAA" if not location.endswith("AAA") else "BBB"))
        assert forged.status_code in (400, 403, 404)


def test_reads_at_a_commit_beyond_retention_answer_410(backend: Settings) -> None:
    clock = Clock(utcnow())
    container = bootstrap_with(backend, clock)
    try:
        with TestClient(create_app(container, run_background=True)) as client:
            repo = new_repo(container, client)
            old = repo.write({"a.txt": b"old"}, "old")
            assert repo.commit_info(old)["is_stale"] is False
            clock.now += timedelta(days=10)
            assert repo.read("a.txt", ref=old) == b"old"  # inside the 14 days
            # Shrinking retention makes the old commit stale.
            shrunk = client.put(repo.base, json={"retention_days": 7}, headers=repo.auth)
            assert shrunk.status_code == 200 and shrunk.json()["retention_days"] == 7
            assert_error(repo.get("a.txt", ref=old), 410, "GONE")
            assert repo.head("a.txt", ref=old).status_code == 410
            stale_list = client.get(f"{repo.base}/objects?ref={old}", headers=repo.auth)
            assert_error(stale_list, 410)
            assert repo.commit_info(old)["is_stale"] is True

            clock.now += timedelta(days=10)
            new = repo.write({"b.txt": b"new"}, "new")
            log = repo.log()["results"]
            assert [(c["id"], c["is_stale"]) for c in log] == [(new, False), (old, True)]
            assert repo.read("b.txt", ref=new) == b"new"
            assert_error(repo.diff(left=old, right=new), 410)
            # The head still reads (retention limits history, not the present).
            assert repo.read("a.txt") == b"old"
    finally:
        container.close()


def bootstrap_with(settings: Settings, clock: Clock) -> Container:
    return bootstrap(settings, clock=clock, hasher=FAST_HASHER)


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


# -- commits ------------------------------------------------------------------------------


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


# -- multipart ----------------------------------------------------------------------------


def test_multipart_upload_over_raw_http(client: TestClient[Any], repo: Repo) -> None:
    sid = repo.open_session()
    where = {"session_id": sid, "path": "big/file.bin"}
    started = client.post(f"{repo.base}/object/multipart", params=where, headers=repo.auth)
    assert started.status_code == 200, started.text
    assert set(started.json()) == {"upload_id", "upload_token"}
    upload_id, token = started.json()["upload_id"], started.json()["upload_token"]

    def part_url(number: int) -> httpx.Response:
        return client.get(  # type: ignore[no-any-return]
            f"{repo.base}/object/multipart/part",
            params={**where, "upload_id": upload_id, "upload_token": token, "part_number": number},
            headers=repo.auth,
        )

    chunks = [b"A" * 300_000, b"B" * 200_000, b"C" * 1234]
    parts = []
    for number, chunk in enumerate(chunks, start=1):
        url = part_url(number)
        assert url.status_code == 200, url.text
        assert set(url.json()) == {"upload_url"}
        assert url.json()["upload_url"].startswith(("http://", "https://"))
        sent = repo.put_bytes(url.json()["upload_url"], chunk)
        assert sent.status_code == 200, sent.text
        assert QUOTED_MD5.match(sent.headers["etag"]) and sent.headers["etag"].strip('"') == md5(
            chunk
        )
        parts.append({"part_number": number, "etag": sent.headers["etag"]})  # quotes kept
    for bad in (0, 10001, -1):
        assert_error(part_url(bad), 400)
    # The upload id is itself a signed credential: the reference's curl example sends no
    # upload_token and still gets a part URL; a forged upload id gets nothing.
    no_token = client.get(
        f"{repo.base}/object/multipart/part",
        params={**where, "upload_id": upload_id, "part_number": 1},
        headers=repo.auth,
    )
    assert no_token.status_code == 200 and no_token.json()["upload_url"].startswith("http")
    forged = client.get(
        f"{repo.base}/object/multipart/part",
        params={**where, "upload_id": upload_id[:-4] + "AAAA", "part_number": 1},
        headers=repo.auth,
    )
    assert_error(forged, 400)

    complete_url = f"{repo.base}/object/multipart/complete"
    common = {"upload_id": upload_id, "upload_token": token, "content_type": OCTETS}
    empty = client.post(complete_url, params=where, json={**common, "parts": []}, headers=repo.auth)
    assert_error(empty, 400)
    wrong_size = client.post(
        complete_url,
        params=where,
        json={**common, "parts": parts, "size_bytes": 1},
        headers=repo.auth,
    )
    assert_error(wrong_size, 400)
    assert repo.changes(sid)["results"] == []

    total = sum(len(c) for c in chunks)
    done = client.post(
        complete_url,
        params=where,
        json={**common, "parts": parts, "size_bytes": total},
        headers=repo.auth,
    )
    assert done.status_code == 201, done.text
    expected = multipart_etag(chunks)
    assert done.json() == {"path": "big/file.bin", "etag": f'"{expected}"'}
    assert expected.endswith("-3")
    head = repo.head("big/file.bin", session_id=sid)
    assert head.headers["etag"] == f'"{expected}"' and head.headers["content-length"] == str(total)
    assert repo.read("big/file.bin", session_id=sid) == b"".join(chunks)
    repo.commit_ok(sid, "big")
    assert repo.read("big/file.bin") == b"".join(chunks)

    # Abort: 204, and the upload is gone.
    sid2 = repo.open_session()
    where2 = {"session_id": sid2, "path": "aborted.bin"}
    started2 = client.post(f"{repo.base}/object/multipart", params=where2, headers=repo.auth)
    assert started2.status_code == 200
    ident = {
        "upload_id": started2.json()["upload_id"],
        "upload_token": started2.json()["upload_token"],
    }
    url = client.get(
        f"{repo.base}/object/multipart/part",
        params={**where2, **ident, "part_number": 1},
        headers=repo.auth,
    ).json()["upload_url"]
    sent = repo.put_bytes(url, b"partial")
    aborted = client.delete(
        f"{repo.base}/object/multipart", params={**where2, **ident}, headers=repo.auth
    )
    assert aborted.status_code == 204, aborted.text
    after_abort = client.post(
        complete_url,
        params=where2,
        json={**ident, "parts": [{"part_number": 1, "etag": sent.headers["etag"]}]},
        headers=repo.auth,
    )
    assert after_abort.status_code in (400, 404), after_abort.text
    assert repo.changes(sid2)["results"] == []
    # A token for one upload does not complete another path.
    assert_error(
        client.post(
            complete_url,
            params={"session_id": sid2, "path": "elsewhere.bin"},
            json={**ident, "parts": [{"part_number": 1, "etag": sent.headers["etag"]}]},
            headers=repo.auth,
        ),
        400,
    )


# -- approval -----------------------------------------------------------------------------


def test_agent_commits_wait_for_human_approval(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org = create_org(client, owner)["name"]
    repo_name = create_repository(client, owner, org, agents_require_approval=True)["name"]
    assert client.get(repo_base(org, repo_name), headers=owner.auth).json()[
        "agents_require_approval"
    ]
    agent = create_agent(client, owner, org, name("bot-"), inline_policy=AGENT_POLICY)
    agent_auth = bearer(create_principal_key(client, owner, org, "agents", agent["name"])["token"])
    as_owner = Repo(client, owner, org, repo_name)
    seed = as_owner.write({"seed.txt": b"seed"}, "seed")

    as_agent = Repo(client, owner, org, repo_name)
    as_agent.auth = agent_auth
    sid = as_agent.open_session()
    as_agent.upload(sid, "out/result.json", RESULT)
    pending = as_agent.commit(sid, "agent results", metadata={"run": "42"})
    assert pending.status_code == 202, pending.text
    body = pending.json()
    tail = f"organizations/{org}/repositories/{repo_name}/sessions/{sid}/approve"
    assert body == {
        "approval_required": True,
        "session_id": sid,
        "message": "this commit requires human approval before it can be applied",
        "api_url": f"/api/v1/{tail}",
        "web_url": f"{container.settings.base_url}/console/{tail}",
    }
    assert body["web_url"].startswith(("http://", "https://"))

    approve_url = f"{repo_base(org, repo_name)}/sessions/{sid}/approve"
    assert client.head(approve_url, headers=agent_auth).status_code == 200  # the SDK polls
    assert client.head(approve_url, headers=owner.auth).status_code == 200
    review = client.get(approve_url, headers=owner.auth)
    assert review.status_code == 200, review.text
    (entry,) = review.json()["results"]
    assert entry["path"] == "out/result.json" and entry["diff_type"] == "added"
    assert entry["entry"]["e_tag"] == f'"{md5(RESULT)}"'
    # Nothing landed yet; the pending session takes no more commits or uploads.
    assert_error(as_owner.get("out/result.json"), 404)
    assert as_owner.log()["results"][0]["id"] == seed
    assert_error(as_agent.commit(sid, "again"), 409)
    assert_error(
        client.put(
            f"{as_agent.base}/object",
            params={"session_id": sid, "path": "more.txt"},
            headers=agent_auth,
        ),
        409,
    )
    # Agents cannot approve.
    assert_error(client.post(approve_url, json={"message": "self"}, headers=agent_auth), 403)

    approved = client.post(approve_url, json={"message": "approved results"}, headers=owner.auth)
    assert approved.status_code == 200, approved.text
    assert set(approved.json()) == {"commit_id"}
    info = as_owner.commit_info(approved.json()["commit_id"])
    assert info["metadata"]["approved_by"] == owner.username
    assert info["metadata"]["approved_by_type"] == "user"
    assert info["metadata"]["approved_by_id"] == owner.id
    assert info["metadata"]["run"] == "42"
    assert info["committer_type"] == "agent" and info["parents"] == [seed]
    assert as_owner.read("out/result.json") == RESULT
    assert client.head(approve_url, headers=agent_auth).status_code == 404
    assert_error(client.post(approve_url, json={"message": "twice"}, headers=owner.auth), 404)

    # A second pending session, rolled back by the owner: HEAD → 404, nothing lands.
    sid2 = as_agent.open_session()
    as_agent.upload(sid2, "out/second.json", b"{}")
    assert as_agent.commit(sid2, "second").status_code == 202
    second_url = f"{repo_base(org, repo_name)}/sessions/{sid2}/approve"
    assert client.head(second_url, headers=agent_auth).status_code == 200
    assert as_owner.rollback(sid2).status_code == 204
    assert client.head(second_url, headers=agent_auth).status_code == 404
    assert_error(client.post(second_url, json={"message": "late"}, headers=owner.auth), 404)
    assert_error(as_owner.get("out/second.json"), 404)
    # Approving over a path a later commit changed: 409, still pending, still roll-back-able.
    sid3 = as_agent.open_session()
    as_agent.upload(sid3, "contested.txt", b"agent's")
    assert as_agent.commit(sid3, "contested").status_code == 202
    as_owner.write({"contested.txt": b"human's"}, "human first")
    third_url = f"{repo_base(org, repo_name)}/sessions/{sid3}/approve"
    contested = client.post(third_url, json={"message": "late"}, headers=owner.auth)
    assert "contested.txt" in assert_error(contested, 409, "CONFLICT")["message"]
    assert client.head(third_url, headers=agent_auth).status_code == 200
    assert as_owner.rollback(sid3).status_code == 204
    assert client.head(third_url, headers=agent_auth).status_code == 404
    assert as_owner.read("contested.txt") == b"human's"
    # An agent with nothing staged gets a 400, not an approval request.
    empty = as_agent.open_session()
    assert_error(as_agent.commit(empty, "nothing"), 400)
    # Humans commit directly even when agents need approval.
    direct = as_owner.open_session()
    as_owner.upload(direct, "human.txt", b"h")
    assert as_owner.commit(direct, "by hand").status_code == 200


def test_a_repository_without_the_flag_takes_agent_commits_directly(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org = create_org(client, owner)["name"]
    repo_name = create_repository(client, owner, org)["name"]
    agent = create_agent(client, owner, org, name("bot-"), inline_policy=AGENT_POLICY)
    as_agent = Repo(client, owner, org, repo_name)
    as_agent.auth = bearer(
        create_principal_key(client, owner, org, "agents", agent["name"])["token"]
    )
    sid = as_agent.open_session()
    as_agent.upload(sid, "a.txt", b"a")
    commit_id = as_agent.commit_ok(sid, "direct")
    info = as_agent.commit_info(commit_id)
    assert info["committer_type"] == "agent" and "approved_by" not in info["metadata"]


def test_an_agent_that_may_commit_may_poll_its_pending_approval(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org = create_org(client, owner)["name"]
    repo_name = create_repository(client, owner, org, agents_require_approval=True)["name"]
    documented = "\n".join(
        f'{statement}(repository="{repo_name}"{extra})'
        for statement, extra in (
            ("ListObjects", ""),
            ("GetObject", ""),
            ("CreateSession", ""),
            ("PutObject", ', path="predictions/*"'),
            ("CommitSession", ""),
        )
    )
    agent = create_agent(client, owner, org, name("bot-"), inline_policy=documented)
    as_agent = Repo(client, owner, org, repo_name)
    as_agent.auth = bearer(
        create_principal_key(client, owner, org, "agents", agent["name"])["token"]
    )
    sid = as_agent.open_session()
    as_agent.upload(sid, "predictions/p.json", b"{}")
    assert as_agent.commit(sid, "predictions").status_code == 202
    polled = client.head(f"{as_agent.base}/sessions/{sid}/approve", headers=as_agent.auth)
    assert polled.status_code == 200, polled.status_code  # what the SDK's poll needs
