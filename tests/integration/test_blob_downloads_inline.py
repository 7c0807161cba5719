"""Both blob stores hand out download URLs that make a browser save, not render, any type that
could run script, and never echo a stored content type that is no valid media type."""

# The contract suite's fixtures are imported and then requested by name as arguments.
# ruff: noqa: F401, F811

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from application.ports import BlobStore
from infra.s3 import S3BlobStore
from tests.integration.test_blob_stores import (
    blob_server,
    download,
    http,
    s3_bucket,
    store,
    upload,
)

PAGE = b"<script>document.title = 'pwned'</script>"


def _asked(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_script_capable_types_download_as_attachments(store: BlobStore, http: httpx.Client) -> None:
    address = upload(store, http, PAGE)
    for content_type in ("text/html", "image/svg+xml", "application/xhtml+xml"):
        url = download(store, address, content_type=content_type)
        if isinstance(store, S3BlobStore):
            # S3 adds no CSP or nosniff, so the presigned URL asks for a download.
            assert _asked(url)["response-content-disposition"] == ["attachment"]
        else:
            assert http.get(url).headers["content-disposition"] == "attachment"


def test_safe_types_stay_inline(store: BlobStore, http: httpx.Client) -> None:
    address = upload(store, http, b"\x89PNG\r\n")
    for content_type in ("image/png", "text/plain; charset=utf-8"):
        url = download(store, address, content_type=content_type)
        if isinstance(store, S3BlobStore):
            assert "response-content-disposition" not in _asked(url)
        else:
            assert "content-disposition" not in http.get(url).headers


def test_a_stored_type_that_is_no_media_type_is_served_as_octets(
    store: BlobStore,
    http: httpx.Client,
) -> None:
    address = upload(store, http, PAGE)
    url = download(store, address, content_type="text/html\r\nSet-Cookie: a=b")
    if isinstance(store, S3BlobStore):
        assert _asked(url)["response-content-type"] == ["application/octet-stream"]
        assert _asked(url)["response-content-disposition"] == ["attachment"]
    else:
        served = http.get(url)
        assert served.status_code == 200 and served.content == PAGE
        assert served.headers["content-type"] == "application/octet-stream"
        assert "set-cookie" not in served.headers
