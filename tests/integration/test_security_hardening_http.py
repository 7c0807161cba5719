"""Security issue #8 over raw HTTP (SQLite and PostgreSQL): stored XSS through blob downloads,
unbounded Range numbers and JSON nesting, invisible path characters, oversized metadata,
reserved names, the metrics token and the security headers on every response."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from litestar.testing import TestClient

from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from interfaces.http.app import create_app
from tests.builders import signup_body
from tests.catalog_helpers import Repo, new_repo
from tests.conftest import FAST_HASHER, ServerProcess, make_settings
from tests.orgs import API, assert_error

HTML = b"<!doctype html><script>document.title = 'pwned'</script>"
SANDBOX = "default-src 'none'; sandbox"


def _finalize(repo: Repo, sid: str, path: str, data: bytes, **body: Any) -> Any:
    grant = repo.start_upload(sid, path)
    assert repo.put_bytes(grant["upload_url"], data).status_code == 200
    return repo.finalize(sid, path, {"upload_token": grant["upload_token"], **body})


def _download(client: TestClient[Any], repo: Repo, path: str, **headers: str) -> Any:
    sid = repo.open_session()
    read = repo.get(path, session_id=sid)
    assert read.status_code == 307, read.text
    return client.get(read.headers["location"], headers=headers)


def test_uploaded_html_is_downloaded_never_rendered(client: TestClient[Any], repo: Repo) -> None:
    sid = repo.open_session()
    for path, content_type in (("x/page.html", "text/html"), ("x/pic.svg", "image/svg+xml")):
        assert _finalize(repo, sid, path, HTML, content_type=content_type).status_code == 201
    assert (
        _finalize(repo, sid, "x/pic.png", b"\x89PNG", content_type="image/png").status_code == 201
    )
    assert _finalize(repo, sid, "x/notes.txt", HTML, content_type="text/plain").status_code == 201
    repo.commit_ok(sid)

    for path in ("x/page.html", "x/pic.svg"):
        served = _download(client, repo, path)
        assert served.status_code == 200 and served.content == HTML
        assert served.headers["content-disposition"] == "attachment"
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["content-security-policy"] == SANDBOX
    for path in ("x/pic.png", "x/notes.txt"):  # shown in place, still sandboxed and unsniffed
        served = _download(client, repo, path)
        assert "content-disposition" not in served.headers
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["content-security-policy"] == SANDBOX
    # A range and a HEAD of the blob carry the same protection.
    ranged = _download(client, repo, "x/page.html", range="bytes=0-4")
    assert ranged.status_code == 206 and ranged.headers["content-disposition"] == "attachment"
    assert ranged.headers["content-security-policy"] == SANDBOX


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html\r\nSet-Cookie: session=stolen",
        "text/html\nX-Injected: 1",
        "text/plain; charset=\u0100",
        "not a type",
        "text/" + "x" * 300,
    ],
)
def test_finalize_refuses_content_types_that_are_no_media_type(
    repo: Repo, content_type: str
) -> None:
    sid = repo.open_session()
    refused = _finalize(repo, sid, "a.bin", b"data", content_type=content_type)
    assert "content_type" in assert_error(refused, 400, "BAD_REQUEST")["message"]
    assert repo.changes(sid)["results"] == []


def test_multipart_complete_refuses_a_bad_content_type(client: TestClient[Any], repo: Repo) -> None:
    sid = repo.open_session()
    where = {"session_id": sid, "path": "big.bin"}
    started = client.post(f"{repo.base}/object/multipart", params=where, headers=repo.auth).json()
    ids = {"upload_id": started["upload_id"], "upload_token": started["upload_token"]}
    url = client.get(
        f"{repo.base}/object/multipart/part",
        params={**where, **ids, "part_number": 1},
        headers=repo.auth,
    ).json()["upload_url"]
    etag = repo.put_bytes(url, b"part one").headers["etag"]
    body = {**ids, "parts": [{"part_number": 1, "etag": etag}]}
    complete = f"{repo.base}/object/multipart/complete"
    bad = client.post(
        complete, params=where, json={**body, "content_type": "a\r\nb: c"}, headers=repo.auth
    )
    assert_error(bad, 400)
    good = client.post(
        complete, params=where, json={**body, "content_type": "text/csv"}, headers=repo.auth
    )
    assert good.status_code == 201, good.text


def test_an_object_stored_with_a_bad_type_before_the_check_still_reads(
    client: TestClient[Any], repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What an older server stored unchecked: reads used to drop the connection or answer 500.
    monkeypatch.setattr("application.catalog.objects.check_content_type", lambda value: value)
    sid = repo.open_session()
    bad = "text/html\r\nSet-Cookie: a=b"
    assert _finalize(repo, sid, "old.html", HTML, content_type=bad).status_code == 201
    monkeypatch.undo()
    repo.commit_ok(sid)

    head = repo.head("old.html")
    assert head.status_code == 200 and head.headers["content-type"] == "application/octet-stream"
    assert "set-cookie" not in head.headers
    served = _download(client, repo, "old.html")
    assert served.status_code == 200 and served.content == HTML
    assert served.headers["content-type"] == "application/octet-stream"
    assert served.headers["content-disposition"] == "attachment"


def test_a_range_with_a_huge_number_is_unsatisfiable(client: TestClient[Any], repo: Repo) -> None:
    repo.write({"r.bin": b"0123456789"})
    for header in ("bytes=" + "9" * 5000 + "-", "bytes=0-" + "9" * 5000, "bytes=-" + "1" * 30):
        refused = _download(client, repo, "r.bin", range=header)
        assert_error(refused, 416, "RANGE_NOT_SATISFIABLE")
        assert refused.headers["content-range"] == "bytes */10"
    assert _download(client, repo, "r.bin", range="bytes=2-4").content == b"234"


def test_deeply_nested_json_is_refused_before_decoding(client: TestClient[Any], repo: Repo) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    json_type = {"content-type": "application/json"}
    # Unauthenticated, and behind authentication, and whatever the declared type.
    for url, headers in (
        (f"{API}/auth/signup", json_type),
        (f"{API}/auth/signup", {"content-type": "text/plain"}),
        (f"{API}/organizations", {**json_type, **repo.auth}),
    ):
        assert_error(client.post(url, content=deep, headers=headers), 400, "BAD_REQUEST")
    nested = b'{"username": "a", "x": ' + b'{"a": ' * 65 + b"1" + b"}" * 65 + b"}"
    assert_error(client.post(f"{API}/auth/signup", content=nested, headers=json_type), 400)
    too_big = b'{"username": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    assert_error(client.post(f"{API}/auth/signup", content=too_big, headers=json_type), 413)
    # Ordinary bodies, and moderate nesting in a string, still pass.
    body = signup_body(full_name="[" * 150)
    assert client.post(f"{API}/auth/signup", json=body).status_code == 201


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\ufeff", "\u200b"])
def test_paths_with_invisible_or_bidi_characters_are_refused(repo: Repo, char: str) -> None:
    sid = repo.open_session()
    refused = repo.http.put(
        f"{repo.base}/object",
        params={"session_id": sid, "path": f"invoice{char}fdp.exe"},
        headers=repo.auth,
    )
    assert_error(refused, 400)
    copied = repo.http.post(
        f"{repo.base}/object/copy",
        params={"session_id": sid, "source_path": "a", "destination_path": f"b{char}c"},
        headers=repo.auth,
    )
    assert_error(copied, 400)


def test_objects_named_before_the_rule_stay_readable_and_deletable(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name with an invisible character stored by an older version is not stranded: it
    can still be read, listed and deleted, only no new object may be given such a name."""
    import application.catalog.objects as objects
    from domain.catalog import paths

    name = "old/invoice\u202efdp.exe"
    monkeypatch.setattr(
        objects, "check_path", lambda v, f="path", new=False: paths.check_path(v, f)
    )
    sid = repo.open_session()
    assert _finalize(repo, sid, name, b"legacy").status_code == 201
    monkeypatch.undo()
    repo.commit_ok(sid, "written before the rule")
    read = repo.http.get(f"{repo.base}/object", params={"path": name}, headers=repo.auth)
    assert read.status_code == 200 and read.content == b"legacy", read.text
    listed = repo.http.get(f"{repo.base}/objects", params={"prefix": "old/"}, headers=repo.auth)
    assert [e["path"] for e in listed.json()["results"]] == [name]
    sid = repo.open_session()
    deleted = repo.http.delete(
        f"{repo.base}/object", params={"session_id": sid, "path": name}, headers=repo.auth
    )
    assert deleted.status_code == 204, deleted.text
    repo.commit_ok(sid, "remove the look-alike")
    gone = repo.http.get(f"{repo.base}/object", params={"path": name}, headers=repo.auth)
    assert_error(gone, 404)


def test_user_metadata_is_capped_like_s3(repo: Repo) -> None:
    sid = repo.open_session()
    big = {"note": "x" * 100_000}
    assert_error(_finalize(repo, sid, "m.bin", b"1", metadata=big), 400)
    fits = {"note": "x" * 2000}
    assert _finalize(repo, sid, "m.bin", b"1", metadata=fits).status_code == 201
    over = {"note": "x" * 2000, "more": "y" * 50}
    assert_error(_finalize(repo, sid, "n.bin", b"1", metadata=over), 400)


def test_service_names_cannot_be_taken(client: TestClient[Any], repo: Repo) -> None:
    for reserved in ("console", "metrics", "www", "security"):
        created = client.post(
            f"{API}/organizations",
            json={"name": reserved, "display_name": "X"},
            headers=repo.auth,
        )
        assert "reserved" in assert_error(created, 400)["message"]
        signup = client.post(f"{API}/auth/signup", json=signup_body(reserved))
        assert "reserved" in assert_error(signup, 400)["message"]


def test_api_and_console_responses_carry_the_security_headers(
    client: TestClient[Any], repo: Repo
) -> None:
    for response in (
        client.get(f"{API}/auth/me", headers=repo.auth),
        client.get(f"{API}/auth/me"),  # an error answer too
        client.get("/console/login"),
        repo.get("nothing-here"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["referrer-policy"] == "same-origin"
        assert "strict-transport-security" not in response.headers  # plain HTTP
    # The 307 to the blob keeps working for clients that follow it.
    sid = repo.open_session()
    assert _finalize(repo, sid, "f.txt", b"hi", content_type="text/plain").status_code == 201
    moved = repo.get("f.txt", session_id=sid)
    assert moved.status_code == 307 and moved.headers["x-frame-options"] == "DENY"
    assert client.get(moved.headers["location"]).content == b"hi"


def _app_with(container: Container, **overrides: Any) -> TestClient[Any]:
    """An app on the same store and adapters, with other settings."""
    settings = container.settings.model_copy(update=overrides)
    other = dataclasses.replace(container, settings=settings)
    return TestClient(create_app(other, run_background=False), base_url="http://testserver.local")


def test_hsts_only_over_https_as_a_trusted_proxy_reports_it(container: Container) -> None:
    proto = {"x-forwarded-proto": "https"}
    with _app_with(container) as untrusting:
        assert "strict-transport-security" not in untrusting.get("/health", headers=proto).headers
    with _app_with(container, trust_forwarded_for=True) as trusting:
        assert trusting.get("/health", headers=proto).headers["strict-transport-security"]
        assert "strict-transport-security" not in trusting.get("/health").headers
    with TestClient(
        create_app(container, run_background=False), base_url="https://tilde.test"
    ) as tls:
        assert tls.get("/health").headers["strict-transport-security"].startswith("max-age=")


def test_metrics_require_the_bearer_token_when_one_is_set(container: Container) -> None:
    with _app_with(container) as open_metrics:
        assert open_metrics.get("/metrics").status_code == 200
    with _app_with(container, metrics_token="m3trics-t0ken") as guarded:
        assert_error(guarded.get("/metrics"), 401, "UNAUTHORIZED")
        for wrong in (
            "Bearer nope",
            "Basic bTNOcmljcy10MGtlbg==",
            "m3trics-t0ken",
            "Bearer é".encode("latin-1"),
        ):
            assert_error(guarded.get("/metrics", headers={"authorization": wrong}), 401)
        allowed = guarded.get("/metrics", headers={"authorization": "Bearer m3trics-t0ken"})
        assert allowed.status_code == 200 and "tilde" in allowed.text


def test_blob_urls_use_the_separate_blob_origin(backend: Settings) -> None:
    settings = backend.model_copy(
        update={"blob_public_url": "https://blobs.tilde-usercontent.test/"}
    )
    container = bootstrap(settings, hasher=FAST_HASHER)
    try:
        with TestClient(create_app(container), base_url="http://testserver.local") as client:
            repo = new_repo(container, client)
            sid = repo.open_session()
            grant = repo.start_upload(sid, "a.txt")
            assert urlsplit(grant["upload_url"]).netloc == "blobs.tilde-usercontent.test"
            assert repo.put_bytes(grant["upload_url"], b"hi").status_code == 200
            done = repo.finalize(sid, "a.txt", {"upload_token": grant["upload_token"]})
            assert done.status_code == 201, done.text
            location = repo.get("a.txt", session_id=sid).headers["location"]
            assert location.startswith("https://blobs.tilde-usercontent.test/_blob/d/")
            # The same process answers the other hostname (TestClient routes any host here).
            assert client.get(location).content == b"hi"
    finally:
        container.close()


def test_the_served_process_names_no_server_software(tmp_path: Path) -> None:
    """`tilde-server serve` sends no `Server: uvicorn` (it tells a scanner what runs here);
    the `Date` header HTTP asks of an origin server stays."""
    server = ServerProcess(make_settings(tmp_path, "sqlite")).start()
    try:
        answer = httpx.get(server.url + "/health", timeout=10)
    finally:
        server.stop()
    assert answer.status_code == 200
    assert "server" not in answer.headers and "date" in answer.headers
