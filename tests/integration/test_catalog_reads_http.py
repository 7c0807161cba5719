"""Object reads over raw HTTP, as COMPAT §3/§4 and the reference describe them: reads
at an older commit by ref, byte ranges on the download URLs, and 410 for commits beyond
retention.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture) with the local blob
store. The byte-level download checks use a live server whose URLs point at itself; the
rest go through the in-process TestClient."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from litestar.testing import TestClient

from domain.shared.values import utcnow
from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from interfaces.http.app import create_app
from tests.catalog_helpers import (
    Clock,
    Repo,
    live_container,
    md5,
    names,
    new_repo,
    with_own_port,
)
from tests.conftest import FAST_HASHER
from tests.orgs import (
    assert_error,
)


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
