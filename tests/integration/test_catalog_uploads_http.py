"""Sessions, single uploads and their reads over raw HTTP, as COMPAT §3/§4 and the
reference describe them: upload grants, finalize checks, object metadata served as
response headers, and what a session sees before and after its commit.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture) with the local blob
store, through the in-process TestClient (it routes the absolute blob URLs to the app,
whatever their host)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

from litestar.testing import TestClient

from domain.shared.values import utcnow
from tests.catalog_helpers import (
    Repo,
    create_repository,
    md5,
    repo_base,
)
from tests.orgs import (
    assert_error,
)


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
