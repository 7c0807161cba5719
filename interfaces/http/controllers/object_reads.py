"""Reading objects: GET (307 to a signed URL), HEAD (headers directly), listings."""

from __future__ import annotations

import json
from email.header import Header
from email.utils import format_datetime
from typing import Any

from litestar import Controller, Response, get, head
from litestar.params import FromPath, FromQuery

from domain.catalog import media_types
from domain.shared.errors import Gone, Invalid, NotFound
from domain.shared.values import parse_iso
from infra.bootstrap import Container
from interfaces.http.deps import ContainerDep, OrgDep
from interfaces.http.pagination import page
from interfaces.http.resources import ObjectPath, ObjectPrefix
from projections.catalog import history, queries


def required(value: str | None, name: str) -> str:
    if not value:
        raise Invalid(f"{name} is required")
    return value


def locate(
    container: Container,
    org_id: str,
    repository: str,
    path: str,
    session_id: str | None,
    ref: str | None,
) -> dict[str, Any]:
    """The entry a read names (head, a session, or a retained commit), or 404/410."""
    if session_id and ref:
        raise Invalid("give session_id or ref, not both")
    repo = container.catalog.get_repository(org_id, repository, read_only=True)
    db = container.catalog_db
    if session_id:
        session = readable_session(db, str(repo.id), session_id)
        if session["status"] == "committed":  # reads through it see what it committed
            commit = history.commit_of_session(db, str(repo.id), session_id)
            entry = queries.entry_at(db, str(repo.id), path, int(commit["seq"])) if commit else None
        else:
            entry = queries.session_entry(db, session, path)
    elif ref:
        commit = history.commit_row(db, str(repo.id), ref)
        if commit is None:
            raise NotFound(f"commit '{ref}' not found")
        if container.catalog.is_stale(repo, commit["creation_date"]):
            raise Gone(f"commit '{ref}' is older than the repository's retention period")
        entry = queries.entry_at(db, str(repo.id), path, int(commit["seq"]))
    else:
        entry = queries.entry_at(db, str(repo.id), path, None)
    if entry is None:
        raise NotFound(f"object '{path}' not found")
    return entry


def readable_session(db: Any, repository_id: str, session_id: str) -> dict[str, Any]:
    """A session of this repository that can still be read (not rolled back), or 404."""
    session = queries.get_session(db, session_id)
    if session is None or session["repository_id"] != repository_id:
        raise NotFound("session not found")
    if session["status"] == "rolled_back":
        raise NotFound("the session was rolled back")
    return session


def header_value(value: str) -> str:
    """Latin-1 header text as is; anything else RFC 2047-encoded (as S3 does)."""
    try:
        value.encode("latin-1")
        return value
    except UnicodeEncodeError:
        return Header(value, "utf-8").encode()


def object_headers(entry: dict[str, Any]) -> dict[str, str]:
    headers = {
        "ETag": f'"{entry["etag"]}"',
        "Content-Type": media_types.servable(entry["content_type"]),
        "Content-Length": str(entry["size"]),
        "X-Tilde-Reproducible": "false",
    }
    modified = parse_iso(entry["last_modified"])
    if modified is not None:  # an HTTP-date (RFC 9110 §8.8.2), not RFC 3339
        headers["Last-Modified"] = format_datetime(modified, usegmt=True)
    for key, value in json.loads(entry["metadata"] or "{}").items():
        headers[f"X-Tilde-Meta-{key}"] = header_value(value)
    return headers


class ObjectReadsController(Controller):
    """`GET`/`HEAD …/object` and `GET …/objects`."""

    path = "/organizations/{organization:str}/repositories/{repository:str}"
    tags = ["objects"]

    @get(
        "/object",
        opt={"action": "GetObject", "resource_path": "path"},
        operation_id="getObject",
        sync_to_thread=True,
    )
    def read(
        self,
        repository: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
        object_path: ObjectPath,
        session_id: FromQuery[str | None] = None,
        ref: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        entry = locate(container, org.org_id, repository, object_path, session_id, ref)
        url = container.blobs.download_url(
            entry["address"],
            expires_in=container.settings.download_url_ttl_seconds,
            content_type=entry["content_type"],
            etag=entry["etag"],
        )
        return Response(
            b"",
            status_code=307,
            media_type="text/plain",
            headers={"Location": url, "Cache-Control": "no-store"},
        )

    @head(
        "/object",
        opt={"action": "GetObject", "resource_path": "path"},
        operation_id="headObject",
        sync_to_thread=True,
    )
    def stat(
        self,
        repository: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
        object_path: ObjectPath,
        session_id: FromQuery[str | None] = None,
        ref: FromQuery[str | None] = None,
    ) -> Response[None]:
        entry = locate(container, org.org_id, repository, object_path, session_id, ref)
        return Response(None, status_code=200, headers=object_headers(entry))

    @get(
        "/objects",
        opt={"action": "ListObjects", "resource_prefix": "prefix"},
        operation_id="listObjects",
        sync_to_thread=True,
    )
    def index(
        self,
        repository: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
        object_prefix: ObjectPrefix,
        session_id: FromQuery[str | None] = None,
        ref: FromQuery[str | None] = None,
        after: FromQuery[str | None] = None,
        amount: FromQuery[int | None] = None,
        delimiter: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        if session_id and ref:
            raise Invalid("give session_id or ref, not both")
        if delimiter is not None and len(delimiter) > 8:
            raise Invalid("delimiter is at most 8 characters")
        repo = container.catalog.get_repository(org.org_id, repository, read_only=True)
        db = container.catalog_db
        if session_id:
            session = readable_session(db, str(repo.id), session_id)
            committed = (
                history.commit_of_session(db, str(repo.id), session_id)
                if session["status"] == "committed"
                else None
            )
            fetch = (
                queries.committed_fetch(db, str(repo.id), int(committed["seq"]), object_prefix)
                if committed
                else queries.session_fetch(db, session, object_prefix)
            )
        else:
            seq = None
            if ref:
                commit = history.commit_row(db, str(repo.id), ref)
                if commit is None:
                    raise NotFound(f"commit '{ref}' not found")
                if container.catalog.is_stale(repo, commit["creation_date"]):
                    raise Gone(f"commit '{ref}' is older than the repository's retention period")
                seq = int(commit["seq"])
            fetch = queries.committed_fetch(db, str(repo.id), seq, object_prefix)
        size = page.size(amount)
        rows = queries.listing(
            fetch, prefix=object_prefix, delimiter=delimiter or "", after=after or "", amount=size
        )
        body = page.of(rows, size, key="path")
        body["common_prefixes"] = [r["path"] for r in body["results"] if r["type"] == "prefix"]
        return body
