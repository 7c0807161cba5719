"""Multipart uploads over raw HTTP, as COMPAT §3/§4 and the reference describe them:
start, part URLs, complete and abort.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture) with the local blob
store, through the in-process TestClient (it routes the absolute blob URLs to the app,
whatever their host)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from litestar.testing import TestClient

from tests.catalog_helpers import (
    OCTETS,
    Repo,
    md5,
    multipart_etag,
)
from tests.orgs import (
    assert_error,
)

QUOTED_MD5 = re.compile(r'^"[0-9a-f]{32}"$')


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
