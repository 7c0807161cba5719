"""Object wire models: entries, listings, staged changes, upload grants."""

from __future__ import annotations

from typing import ClassVar

from interfaces.http.schemas.base import Out, Pagination


class SourceMetadata(Out):
    """Where an imported object came from."""

    omit_none: ClassVar[frozenset[str]] = frozenset(
        {"connector_id", "connector_type", "source_path", "version_id", "source_etag"}
        | {"import_time", "import_job_id"}
    )

    connector_id: str | None = None
    connector_type: str | None = None
    source_path: str | None = None
    version_id: str | None = None
    source_etag: str | None = None
    import_time: str | None = None
    import_job_id: str | None = None


class Entry(Out):
    """An object's stat: size, quoted ETag, metadata, content type."""

    omit_none: ClassVar[frozenset[str]] = frozenset({"source_metadata"})

    last_modified: str
    size: int
    e_tag: str
    metadata: dict[str, str]
    content_type: str
    source_metadata: SourceMetadata | None = None


class ListingEntry(Out):
    """An object (with its entry) or a common prefix; `status` in diffs."""

    omit_none: ClassVar[frozenset[str]] = frozenset({"entry", "status"})

    path: str
    type: str
    entry: Entry | None = None
    status: str | None = None


class ListingEntryList(Out):
    """A diff page."""

    results: list[ListingEntry]
    pagination: Pagination


class ObjectList(ListingEntryList):
    """A listing page; `common_prefixes` repeats the prefix entries' paths."""

    common_prefixes: list[str]


class EntryRecord(Out):
    """A staged change: the entry as staged (or as it was, when removed) and its status;
    the approval review also names it `diff_type`."""

    omit_none: ClassVar[frozenset[str]] = frozenset({"diff_type"})

    path: str
    type: str
    entry: Entry
    status: str
    diff_type: str | None = None


class EntryRecordList(Out):
    results: list[EntryRecord]
    pagination: Pagination


class UploadURL(Out):
    """Where to PUT an object's bytes, and the token that finalizes it."""

    upload_url: str
    upload_token: str


class PartURL(Out):
    upload_url: str


class MultipartUpload(Out):
    upload_id: str
    upload_token: str


class StagedObject(Out):
    """A finalized upload: its path and quoted ETag."""

    path: str
    etag: str


class CopiedObject(Out):
    source_path: str
    destination_path: str


class DeleteObjectsResponse(Out):
    deleted: int
