"""Helpers shared by the catalog tests: raw HTTP over one repository, live servers whose
absolute upload/download URLs point at themselves, and the S3 settings for moto."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from tests import services
from tests.builders import name
from tests.conftest import FAST_HASHER, LiveServer, make_settings
from tests.orgs import API, Person, create_org, person

OCTETS = "application/octet-stream"
MiB = 1024 * 1024

# What an agent needs to stage, commit and poll for approval (approving is for humans).
AGENT_POLICY = """\
GetRepository()
CreateSession()
PutObject()
GetObject()
DeleteObject()
ListObjects()
ListChanges()
CommitSession()
RollbackSession()
ApproveSession()
GetCommit()
ListCommits()
"""


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def multipart_etag(parts: list[bytes]) -> str:
    """S3's ETag of a multipart object: md5 of the parts' binary md5s, then `-N`."""
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return f"{hashlib.md5(joined).hexdigest()}-{len(parts)}"


def repo_base(org: str, repo: str) -> str:
    return f"{API}/organizations/{org}/repositories/{repo}"


# -- settings, containers, live servers -----------------------------------------------------


def s3_overrides(bucket: str | None = None) -> dict[str, Any]:
    """Settings selecting the S3 blob store on the test S3 server (moto)."""
    return {
        "blob_store": "s3",
        "s3_bucket": bucket or f"tilde-cat-{uuid.uuid4().hex[:12]}",
        "s3_endpoint_url": services.s3_endpoint(),
        "s3_access_key_id": "test",
        "s3_secret_access_key": "test",
    }


def served_settings(tmp_path: Path, kind: str, **overrides: Any) -> Settings:
    """Settings whose base URL is a free loopback port, so the local blob store's absolute
    URLs reach the live server started on that port."""
    return make_settings(tmp_path, kind, port=services.free_port(), **overrides)


def with_own_port(settings: Settings) -> Settings:
    """A copy of `settings` (e.g. the `backend` fixture's) on a free loopback port."""
    return settings.model_copy(update={"port": services.free_port()})


@contextmanager
def serve(container: Container) -> Iterator[LiveServer]:
    """The app under uvicorn on the port its settings name (its URLs point at itself)."""
    server = LiveServer(container)
    port = container.settings.port
    server.port = port
    server.url = f"http://127.0.0.1:{port}"
    server.server.config.port = port
    with server:
        yield server


@contextmanager
def live_container(
    settings: Settings, *, clock: Any = None
) -> Iterator[tuple[Container, LiveServer]]:
    kwargs: dict[str, Any] = {"hasher": FAST_HASHER}
    if clock is not None:
        kwargs["clock"] = clock
    container = bootstrap(settings, **kwargs)
    try:
        with serve(container) as server:
            yield container, server
    finally:
        container.close()


class Clock:
    """A controllable clock for `bootstrap(clock=...)`."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


# -- raw HTTP over one repository ---------------------------------------------------------


class Repo:
    """One repository driven over raw HTTP (a Litestar TestClient or an httpx.Client).

    Upload and download URLs are absolute; a TestClient routes them to the app whatever
    their host, an httpx.Client reaches them on the live server."""

    def __init__(self, http: Any, owner: Person, org: str, name: str) -> None:
        self.http = http
        self.owner = owner
        self.org = org
        self.name = name
        self.auth = owner.auth

    @property
    def base(self) -> str:
        return repo_base(self.org, self.name)

    # sessions
    def open_session(self, auth: dict[str, str] | None = None) -> str:
        response = self.http.post(f"{self.base}/sessions", headers=auth or self.auth)
        assert response.status_code == 201, response.text
        body = response.json()
        assert set(body) == {"session_id"}, body
        return str(body["session_id"])

    def commit(
        self,
        sid: str,
        message: str = "a commit",
        metadata: dict[str, str] | None = None,
        auth: dict[str, str] | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"message": message}
        if metadata is not None:
            body["metadata"] = metadata
        return self.http.post(f"{self.base}/sessions/{sid}", json=body, headers=auth or self.auth)  # type: ignore[no-any-return]

    def commit_ok(self, sid: str, message: str = "a commit", **kw: Any) -> str:
        response = self.commit(sid, message, **kw)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"commit_id"}, body
        return str(body["commit_id"])

    def rollback(self, sid: str, auth: dict[str, str] | None = None) -> httpx.Response:
        return self.http.delete(f"{self.base}/sessions/{sid}", headers=auth or self.auth)  # type: ignore[no-any-return]

    # uploads
    def start_upload(
        self, sid: str, path: str, auth: dict[str, str] | None = None
    ) -> dict[str, str]:
        response = self.http.put(
            f"{self.base}/object",
            params={"session_id": sid, "path": path},
            headers=auth or self.auth,
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def put_bytes(self, url: str, data: bytes) -> httpx.Response:
        """PUT to a signed URL as the SDK does: octet-stream, no Authorization."""
        response = self.http.put(url, content=data, headers={"Content-Type": OCTETS})
        assert "authorization" not in response.request.headers
        return response  # type: ignore[no-any-return]

    def finalize(
        self, sid: str, path: str, body: dict[str, Any], auth: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.http.post(  # type: ignore[no-any-return]
            f"{self.base}/object/finalize",
            params={"session_id": sid, "path": path},
            json=body,
            headers=auth or self.auth,
        )

    def upload(
        self,
        sid: str,
        path: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        auth: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The SDK's single upload: PUT /object, PUT the bytes, finalize; the 201 body."""
        grant = self.start_upload(sid, path, auth)
        sent = self.put_bytes(grant["upload_url"], data)
        assert sent.status_code == 200, sent.text
        body: dict[str, Any] = {
            "upload_token": grant["upload_token"],
            "checksum": sent.headers["etag"].strip('"'),
            "size_bytes": len(data),
        }
        if content_type is not None:
            body["content_type"] = content_type
        if metadata is not None:
            body["metadata"] = metadata
        response = self.finalize(sid, path, body, auth)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def write(self, files: dict[str, bytes | None], message: str = "write") -> str:
        """One session that uploads (bytes) or deletes (None) paths, committed; its id."""
        sid = self.open_session()
        for path, data in files.items():
            if data is None:
                response = self.delete(sid, path)
                assert response.status_code == 204, response.text
            else:
                self.upload(sid, path, data)
        return self.commit_ok(sid, message)

    def delete(self, sid: str, path: str) -> httpx.Response:
        return self.http.delete(  # type: ignore[no-any-return]
            f"{self.base}/object", params={"session_id": sid, "path": path}, headers=self.auth
        )

    # reads
    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(  # type: ignore[no-any-return]
            f"{self.base}/object",
            params={"path": path, **params},
            headers=self.auth,
            follow_redirects=False,
        )

    def head(self, path: str, **params: Any) -> httpx.Response:
        return self.http.head(  # type: ignore[no-any-return]
            f"{self.base}/object", params={"path": path, **params}, headers=self.auth
        )

    def read(self, path: str, **params: Any) -> bytes:
        """The bytes behind the 307 (the download URL needs no Authorization)."""
        response = self.get(path, **params)
        assert response.status_code == 307, response.text
        target = self.http.get(response.headers["location"])
        assert target.status_code == 200, target.text
        return target.content  # type: ignore[no-any-return]

    def objects(self, **params: Any) -> dict[str, Any]:
        response = self.http.get(f"{self.base}/objects", params=params, headers=self.auth)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def changes(self, sid: str, **params: Any) -> dict[str, Any]:
        response = self.http.get(
            f"{self.base}/changes", params={"session_id": sid, **params}, headers=self.auth
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def log(self, **params: Any) -> dict[str, Any]:
        response = self.http.get(f"{self.base}/log", params=params, headers=self.auth)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def diff(self, **params: Any) -> httpx.Response:
        return self.http.get(f"{self.base}/diff", params=params, headers=self.auth)  # type: ignore[no-any-return]

    def commit_info(self, commit_id: str) -> dict[str, Any]:
        response = self.http.get(f"{self.base}/commits/{commit_id}", headers=self.auth)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


def create_repository(
    http: Any, owner: Person, org: str, repo: str | None = None, **settings: Any
) -> dict[str, Any]:
    response = http.post(
        f"{API}/organizations/{org}/repositories",
        json={"name": repo or name("r-"), **settings},
        headers=owner.auth,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def new_repo(container: Container, http: Any, **settings: Any) -> Repo:
    """A fresh owner, organization and repository."""
    owner = person(container)
    org = create_org(http, owner)["name"]
    repo = create_repository(http, owner, org, **settings)
    return Repo(http, owner, org, repo["name"])


def names(listing: dict[str, Any]) -> list[str]:
    return [r["path"] for r in listing["results"]]


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
