"""Reading objects: GET (307 to a signed URL), HEAD (headers directly), listings."""

from __future__ import annotations

import json
from email.header import Header
from email.utils import format_datetime
from typing import Any

from litestar import Controller, Response, get, head
from litestar.params import FromPath, FromQuery

from domain.catalog import media_types
from domain.shared.errors import Invalid
from domain.shared.values import parse_iso
from interfaces.http.deps import ContainerDep, OrgDep
from interfaces.http.pagination import page
from interfaces.http.resources import ObjectPath, ObjectPrefix
from interfaces.http.schemas.errors import errors, no_body
from interfaces.http.schemas.objects import ObjectList


def required(value: str | None, name: str) -> str:
    if not value:
        raise Invalid(f"{name} is required")
    return value


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
        status_code=307,
        responses={
            **no_body(307, "Redirect to the object's download URL (Location, Cache-Control)"),
            **errors(410),
        },
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
        entry = container.catalog.queries.entry(
            org.org_id, repository, object_path, session_id=session_id, ref=ref
        )
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
        responses={
            **no_body(200, "Object exists: ETag, Content-Type, Content-Length, X-Tilde-Meta-*"),
            **errors(410),
        },
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
        entry = container.catalog.queries.entry(
            org.org_id, repository, object_path, session_id=session_id, ref=ref
        )
        return Response(None, status_code=200, headers=object_headers(entry))

    @get(
        "/objects",
        opt={"action": "ListObjects", "resource_prefix": "prefix"},
        operation_id="listObjects",
        responses=errors(410),
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
    ) -> ObjectList:
        size = page.size(amount)
        rows = container.catalog.queries.list_entries(
            org.org_id,
            repository,
            object_prefix,
            amount=size,
            session_id=session_id,
            ref=ref,
            after=after,
            delimiter=delimiter,
        )
        body = page.of(rows, size, key="path")
        body["common_prefixes"] = [r["path"] for r in body["results"] if r["type"] == "prefix"]
        return ObjectList.of(body)
