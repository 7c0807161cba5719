"""Object wire models: entries, listings, staged changes, upload grants.

msgspec structs, not pydantic: a listing page holds up to 1,000 entries, which pydantic models
take ~50 ms to build and serialize where msgspec takes ~1.5 ms (a plain dict: 0.4 ms); an upload
grant costs 1 µs instead of 34 µs on the hottest routes (PUT /object, finalize)."""

from __future__ import annotations

from typing import Any, Self

import msgspec

from interfaces.http.schemas.base import Pagination


class SourceMetadata(msgspec.Struct, omit_defaults=True):
    """Where an imported object came from."""

    connector_id: str | None = None
    connector_type: str | None = None
    source_path: str | None = None
    version_id: str | None = None
    source_etag: str | None = None
    import_time: str | None = None
    import_job_id: str | None = None


class Entry(msgspec.Struct, omit_defaults=True):
    """An object's stat: size, quoted ETag, metadata, content type."""

    last_modified: str
    size: int
    e_tag: str
    metadata: dict[str, str]
    content_type: str
    source_metadata: SourceMetadata | None = None


class ListingEntry(msgspec.Struct, omit_defaults=True):
    """An object (with its entry) or a common prefix; `status` in diffs."""

    path: str
    type: str
    entry: Entry | None = None
    status: str | None = None


class ListingEntryList(msgspec.Struct):
    """A diff page."""

    results: list[ListingEntry]
    pagination: Pagination

    @classmethod
    def of(cls, page: dict[str, Any]) -> Self:
        return cls(
            results=msgspec.convert(page["results"], list[ListingEntry]),
            pagination=Pagination(**page["pagination"]),
        )


class ObjectList(msgspec.Struct):
    """A listing page; `common_prefixes` repeats the prefix entries' paths."""

    results: list[ListingEntry]
    pagination: Pagination
    common_prefixes: list[str]

    @classmethod
    def of(cls, page: dict[str, Any]) -> Self:
        return cls(
            results=msgspec.convert(page["results"], list[ListingEntry]),
            pagination=Pagination(**page["pagination"]),
            common_prefixes=page["common_prefixes"],
        )


class EntryRecord(msgspec.Struct, omit_defaults=True):
    """A staged change: the entry as staged (or as it was, when removed) and its status;
    the approval review also names it `diff_type`."""

    path: str
    type: str
    entry: Entry
    status: str
    diff_type: str | None = None


class EntryRecordList(msgspec.Struct):
    results: list[EntryRecord]
    pagination: Pagination

    @classmethod
    def of(cls, page: dict[str, Any]) -> Self:
        return cls(
            results=msgspec.convert(page["results"], list[EntryRecord]),
            pagination=Pagination(**page["pagination"]),
        )


class UploadURL(msgspec.Struct):
    """Where to PUT an object's bytes, and the token that finalizes it."""

    upload_url: str
    upload_token: str


class PartURL(msgspec.Struct):
    upload_url: str


class MultipartUpload(msgspec.Struct):
    upload_id: str
    upload_token: str


class StagedObject(msgspec.Struct):
    """A finalized upload: its path and quoted ETag."""

    path: str
    etag: str


class CopiedObject(msgspec.Struct):
    source_path: str
    destination_path: str


class DeleteObjectsResponse(msgspec.Struct):
    deleted: int
