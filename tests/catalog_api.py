"""The catalog over HTTP, as one principal: shared by the GC, rebuild, crash and console tests.

`Api` drives the catalog routes of one organization through any httpx-style client (the
Litestar TestClient or a plain `httpx.Client` against a live server); `open_org` and
`agent_api` make the principals it acts as; `check` turns an unexpected status into
`Unexpected`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from infra.bootstrap import Container
from tests.builders import name
from tests.conftest import bearer, create_key, create_user

API = "/api/v1"


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
