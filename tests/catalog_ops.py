"""Catalog helpers shared by the GC, rebuild, crash and console tests.

`Api` drives the catalog over HTTP through any httpx-style client (the Litestar TestClient
or a plain `httpx.Client` against a live server); `Model` is the expected state of a
repository (head, every commit, open sessions) that reads are checked against; the dump
helpers snapshot the inline catalog tables for rebuild comparisons.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from litestar.testing import TestClient

from application.catalog import GcReport
from domain.shared.values import utcnow
from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from interfaces.http.app import create_app
from projections.catalog.catalog import CatalogView
from tests.builders import name
from tests.conftest import FAST_HASHER, ServerProcess, bearer, create_key, create_user

ROOT = Path(__file__).resolve().parent.parent

API = "/api/v1"
Snapshot = dict[str, bytes]


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


class Unexpected(AssertionError):
    """A response with a status the caller did not expect (the status is kept)."""

    def __init__(self, response: Any) -> None:
        super().__init__(
            f"{response.request.method} {response.request.url} -> "
            f"{response.status_code}: {response.text[:500]}"
        )
        self.status = int(response.status_code)
        self.retry_after = response.headers.get("retry-after")


def check(response: Any, *statuses: int) -> Any:
    if response.status_code not in statuses:
        raise Unexpected(response)
    return response


def backpressure(error: Unexpected) -> bool:
    """A saturated server's clean refusal: 503 with Retry-After (nothing was written)."""
    return error.status == 503 and error.retry_after is not None


@dataclass
class Api:
    """The catalog routes of one organization, as one principal."""

    http: Any  # TestClient or httpx.Client
    auth: dict[str, str]
    org: str
    # Absolute blob URLs outside the app (S3 presigned URLs) go through this client; without
    # it they go through `http` (the local store's `/_blob/...` URLs are the app's own).
    blob_http: httpx.Client | None = None

    # -- plumbing -----------------------------------------------------------------------
    def repo_url(self, repo: str) -> str:
        return f"{API}/organizations/{self.org}/repositories/{repo}"

    def call(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return self.http.request(method, url, headers=headers, **kwargs)

    def transfer(self, method: str, url: str, **kwargs: Any) -> Any:
        """PUT/GET a signed blob URL (the signature is the credential: no auth header)."""
        if "/_blob/" in url:  # the local store's URLs are the app's own routes
            parts = urlsplit(url)
            local = parts.path + (f"?{parts.query}" if parts.query else "")
            return self.http.request(method, local, **kwargs)
        return (self.blob_http or self.http).request(method, url, **kwargs)

    # -- repositories -------------------------------------------------------------------
    def create_repository(self, repo: str, **settings: Any) -> dict[str, Any]:
        response = self.call(
            "POST",
            f"{API}/organizations/{self.org}/repositories",
            json={"name": repo, **settings},
        )
        return check(response, 200, 201).json()  # type: ignore[no-any-return]

    def delete_repository(self, repo: str) -> None:
        check(self.call("DELETE", self.repo_url(repo)), 204)

    # -- sessions and staging -----------------------------------------------------------
    def open_session(self, repo: str) -> str:
        response = check(self.call("POST", f"{self.repo_url(repo)}/sessions"), 200, 201)
        return str(response.json()["session_id"])

    def start_upload(self, repo: str, session_id: str, path: str) -> tuple[str, str]:
        response = check(
            self.call(
                "PUT",
                f"{self.repo_url(repo)}/object",
                params={"session_id": session_id, "path": path},
            ),
            200,
        )
        body = response.json()
        return body["upload_url"], body["upload_token"]

    def put_bytes(self, url: str, data: bytes) -> None:
        response = check(self.transfer("PUT", url, content=data), 200)
        assert response.headers["etag"].strip('"') == md5_hex(data)

    def finalize(
        self, repo: str, session_id: str, path: str, token: str, data: bytes, **extra: Any
    ) -> Any:
        body = {"upload_token": token, "checksum": md5_hex(data), "size_bytes": len(data)}
        return self.call(
            "POST",
            f"{self.repo_url(repo)}/object/finalize",
            params={"session_id": session_id, "path": path},
            json={**body, **extra},
        )

    def upload(self, repo: str, session_id: str, path: str, data: bytes, **extra: Any) -> None:
        url, token = self.start_upload(repo, session_id, path)
        self.put_bytes(url, data)
        check(self.finalize(repo, session_id, path, token, data, **extra), 200, 201)

    def upload_unfinalized(self, repo: str, session_id: str, path: str, data: bytes) -> str:
        """Bytes PUT but never finalized (an upload in flight); its upload token."""
        url, token = self.start_upload(repo, session_id, path)
        self.put_bytes(url, data)
        return token

    def start_multipart(self, repo: str, session_id: str, path: str, part: bytes) -> str:
        """A multipart upload with one part sent and never completed; its upload id."""
        where = {"session_id": session_id, "path": path}
        started = check(
            self.call("POST", f"{self.repo_url(repo)}/object/multipart", params=where), 200
        ).json()
        url = check(
            self.call(
                "GET",
                f"{self.repo_url(repo)}/object/multipart/part",
                params={
                    **where,
                    "upload_id": started["upload_id"],
                    "upload_token": started["upload_token"],
                    "part_number": 1,
                },
            ),
            200,
        ).json()["upload_url"]
        self.put_bytes(url, part)
        return str(started["upload_id"])

    def delete(self, repo: str, session_id: str, path: str) -> None:
        response = self.call(
            "DELETE",
            f"{self.repo_url(repo)}/object",
            params={"session_id": session_id, "path": path},
        )
        check(response, 204)

    def copy(self, repo: str, session_id: str, source: str, destination: str) -> None:
        response = self.call(
            "POST",
            f"{self.repo_url(repo)}/object/copy",
            params={
                "session_id": session_id,
                "source_path": source,
                "destination_path": destination,
            },
        )
        check(response, 201)

    def commit(
        self, repo: str, session_id: str, message: str, metadata: dict[str, str] | None = None
    ) -> Any:
        body: dict[str, Any] = {"message": message}
        if metadata:
            body["metadata"] = metadata
        return self.call("POST", f"{self.repo_url(repo)}/sessions/{session_id}", json=body)

    def commit_ok(self, repo: str, session_id: str, message: str) -> str:
        return str(check(self.commit(repo, session_id, message), 200).json()["commit_id"])

    def rollback(self, repo: str, session_id: str) -> None:
        check(self.call("DELETE", f"{self.repo_url(repo)}/sessions/{session_id}"), 204)

    def revert(self, repo: str, commit_id: str) -> Any:
        return self.call("POST", f"{self.repo_url(repo)}/commits/{commit_id}/revert", json={})

    def approve(self, repo: str, session_id: str) -> str:
        url = f"{self.repo_url(repo)}/sessions/{session_id}/approve"
        return str(check(self.call("POST", url, json={}), 200).json()["commit_id"])

    def pending(self, repo: str, session_id: str) -> int:
        url = f"{self.repo_url(repo)}/sessions/{session_id}/approve"
        return int(self.call("HEAD", url).status_code)

    # -- reads ----------------------------------------------------------------------------
    def _pages(self, url: str, params: dict[str, Any], key: str = "results") -> Iterator[Any]:
        after: str | None = None
        while True:
            query = {**params, "amount": 1000, **({"after": after} if after else {})}
            body = check(self.call("GET", url, params=query), 200).json()
            yield from body[key]
            if not body["pagination"]["has_more"]:
                return
            after = body["pagination"]["next_offset"]

    def log(self, repo: str) -> list[dict[str, Any]]:
        return list(self._pages(f"{self.repo_url(repo)}/log", {}))

    def list_paths(
        self, repo: str, *, ref: str | None = None, session_id: str | None = None
    ) -> list[str]:
        params = {k: v for k, v in (("ref", ref), ("session_id", session_id)) if v}
        return [r["path"] for r in self._pages(f"{self.repo_url(repo)}/objects", params)]

    def list_status(self, repo: str, *, ref: str) -> int:
        response = self.call("GET", f"{self.repo_url(repo)}/objects", params={"ref": ref})
        return int(response.status_code)

    def get_object(
        self, repo: str, path: str, *, ref: str | None = None, session_id: str | None = None
    ) -> Any:
        params = {"path": path, **({"ref": ref} if ref else {})}
        if session_id:
            params["session_id"] = session_id
        return self.call(
            "GET", f"{self.repo_url(repo)}/object", params=params, follow_redirects=False
        )

    def read(
        self, repo: str, path: str, *, ref: str | None = None, session_id: str | None = None
    ) -> bytes:
        located = check(self.get_object(repo, path, ref=ref, session_id=session_id), 307)
        body = check(self.transfer("GET", located.headers["location"]), 200)
        return bytes(body.content)


@dataclass
class Env:
    """A container on a movable clock, its API, and the instant the test started."""

    container: Container
    api: Api
    now: list[datetime]
    start: datetime

    def at(self, when: datetime) -> None:
        self.now[0] = when

    def collect(self, when: datetime) -> GcReport:
        self.at(when)
        return self.container.catalog.collect()

    def repo_id(self, repo: str) -> str:
        return str(self.container.catalog.get_repository(self.api_org_id(), repo).id)

    def api_org_id(self) -> str:
        return self.container.resolve_organization(self.api.org)

    def addresses_by_content(self, repo_id: str) -> dict[bytes, str]:
        """Every stored blob of a repository by its (unique) bytes."""
        found = {}
        for address in blob_addresses(self.container, repo_id):
            found[read_blob(self.container, address)] = address
        return found

    def referenced(self) -> set[str]:
        rows = self.container.catalog_db.query(
            "SELECT address FROM catalog_entries UNION SELECT address FROM catalog_staged"
        )
        return {r["address"] for r in rows if r["address"]}


@contextmanager
def environment(settings: Settings, reuse: Api | None = None) -> Iterator[Env]:
    """A container on a movable clock behind a TestClient; a fresh owner and organization
    unless `reuse` names the ones of an earlier environment on the same store."""
    start = utcnow()
    now = [start]
    settings = settings.model_copy(update={"gc_interval_seconds": 0})
    container = bootstrap(settings, clock=lambda: now[0], hasher=FAST_HASHER)
    try:
        app = create_app(container, run_background=True)
        with TestClient(app, base_url="http://testserver.local") as client:
            api = Api(client, reuse.auth, reuse.org) if reuse else open_org(client, container)
            if settings.blob_store == "s3":
                api.blob_http = httpx.Client(timeout=30)
            try:
                yield Env(container, api, now, start)
            finally:
                if api.blob_http is not None:
                    api.blob_http.close()
    finally:
        container.close()


def open_org(client: Any, container: Container) -> Api:
    """A fresh user with an API key and an organization they own."""
    user = create_user(container)
    auth = bearer(create_key(container, user))
    org = name("org")
    response = client.post(
        f"{API}/organizations", json={"name": org, "display_name": f"The {org}"}, headers=auth
    )
    check(response, 200, 201)
    return Api(client, auth, org)


AGENT_ACTIONS = ("CreateSession", "PutObject", "CommitSession", "ListObjects", "GetObject")


def agent_api(owner: Api, repo: str, actions: tuple[str, ...] = AGENT_ACTIONS) -> Api:
    """An agent of the owner's organization, allowed `actions` on `repo` only (inline
    policy), acting through its own `tak-` key."""
    agent = name("agent-")
    policy = "\n".join(f'{action}(repository="{repo}")' for action in actions)
    created = owner.call(
        "POST",
        f"{API}/organizations/{owner.org}/agents",
        json={"name": agent, "description": "does the work", "inline_policy": policy},
    )
    check(created, 201)
    key = owner.call(
        "POST",
        f"{API}/organizations/{owner.org}/agents/{agent}/auth/keys",
        json={"name": name("k-")},
    )
    token = check(key, 201).json()["token"]
    return Api(owner.http, bearer(token), owner.org, owner.blob_http)


# -- the expected state of a repository ---------------------------------------------------


@dataclass
class Model:
    """What a repository must show: the head and the tree at every commit, by commit id."""

    head: Snapshot = field(default_factory=dict)
    commits: list[tuple[str, Snapshot]] = field(default_factory=list)
    sessions: dict[str, tuple[Snapshot, dict[str, bytes | None]]] = field(default_factory=dict)

    def open(self, session_id: str) -> None:
        self.sessions[session_id] = (dict(self.head), {})

    def view(self, session_id: str) -> Snapshot:
        base, staged = self.sessions[session_id]
        tree = dict(base)
        for path, data in staged.items():
            if data is None:
                tree.pop(path, None)
            else:
                tree[path] = data
        return tree

    def put(self, session_id: str, path: str, data: bytes) -> None:
        self.sessions[session_id][1][path] = data

    def delete(self, session_id: str, path: str) -> None:
        self.sessions[session_id][1][path] = None

    def copy(self, session_id: str, source: str, destination: str) -> None:
        self.sessions[session_id][1][destination] = self.view(session_id)[source]

    def committed(self, session_id: str, commit_id: str) -> None:
        _, staged = self.sessions.pop(session_id)
        for path, data in staged.items():
            if data is None:
                self.head.pop(path, None)
            else:
                self.head[path] = data
        self.commits.append((commit_id, dict(self.head)))

    def rolled_back(self, session_id: str) -> None:
        self.sessions.pop(session_id)

    def reverted(self, target: str, commit_id: str) -> None:
        ids = [c for c, _ in self.commits]
        index = ids.index(target)
        before = self.commits[index - 1][1] if index else {}
        after = self.commits[index][1]
        for path in set(before) | set(after):
            if before.get(path) != after.get(path):
                if path in before:
                    self.head[path] = before[path]
                else:
                    self.head.pop(path, None)
        self.commits.append((commit_id, dict(self.head)))

    def tree(self, commit_id: str) -> Snapshot:
        return next(t for c, t in self.commits if c == commit_id)


def check_tree(api: Api, repo: str, tree: Snapshot, **where: str) -> int:
    """The listing at `where` (head, ref=…, session_id=…) is exactly `tree`, every object
    reads back with its bytes; how many objects were read."""
    assert api.list_paths(repo, **where) == sorted(tree), where
    for path, data in tree.items():
        assert api.read(repo, path, **where) == data, (path, where)
    return len(tree)


def check_model(
    api: Api,
    repo: str,
    model: Model,
    *,
    stale: frozenset[str] | set[str] = frozenset(),
    last: int | None = None,
) -> int:
    """Head, every retained commit (or the `last` few) and every open session read back
    exactly; stale commits answer 410 and the log marks them. Returns objects read."""
    read = check_tree(api, repo, model.head)
    log = {c["id"]: c for c in api.log(repo)}
    assert set(log) == {c for c, _ in model.commits}, "the log lists every commit"
    for index, (commit_id, tree) in enumerate(model.commits):
        assert log[commit_id]["is_stale"] is (commit_id in stale), commit_id
        if last is not None and index < len(model.commits) - last:
            continue
        if commit_id in stale:
            some = next(iter(tree), "missing")
            assert api.get_object(repo, some, ref=commit_id).status_code == 410
            assert api.list_status(repo, ref=commit_id) == 410
        else:
            read += check_tree(api, repo, tree, ref=commit_id)
    for session_id in model.sessions:
        read += check_tree(api, repo, model.view(session_id), session_id=session_id)
    return read


# -- snapshots of the inline catalog ------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    return value


def dump_catalog(container: Container) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every inline catalog table, normalised and sorted."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in CatalogView.tables:
        rows = container.catalog_db.query(f"SELECT * FROM {table}")
        out[table] = sorted(
            (tuple(sorted((k, _plain(v)) for k, v in row.items())) for row in rows),
            key=lambda r: json.dumps(r, default=str),
        )
    return out


def commit_ids(container: Container) -> list[tuple[str, int, str]]:
    rows = container.catalog_db.query("SELECT repository_id, seq, id FROM catalog_commits")
    return sorted((r["repository_id"], int(r["seq"]), r["id"]) for r in rows)


def blob_addresses(container: Container, repository_id: str = "") -> set[str]:
    prefix = f"{repository_id}/" if repository_id else ""
    return {a for a, _ in container.blobs.list_addresses(prefix)}


def read_blob(container: Container, address: str) -> bytes:
    with container.blobs.open(address) as stream:
        return stream.read()


class LoggedServer(ServerProcess):
    """`tilde-server serve` in a child process whose output goes to a file, so a failed
    (re)start says why."""

    def start(self) -> LoggedServer:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.settings.data_dir.parent / f"server-{self.port}.log"
        with log.open("ab") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "interfaces.cli.main", "serve", "--port", str(self.port)],
                env=self.env(),
                stdout=sink,
                stderr=sink,
                cwd=str(ROOT),
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        output = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"server did not become healthy (exit {self.proc.poll()}):\n{output}")
