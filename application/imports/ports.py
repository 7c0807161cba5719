"""What an import reads from and writes to: a connector's source (the connectors context's
`ObjectSource`, matched structurally here) and a server-side writer into the blob store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO, Protocol

from application.ports import BlobInfo


class SourceObjectLike(Protocol):
    """One object a source lists (the connectors context's `SourceObject`)."""

    @property
    def key(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def etag(self) -> str: ...

    @property
    def last_modified(self) -> datetime | None: ...

    @property
    def content_type(self) -> str | None: ...


class ObjectSourceLike(Protocol):
    """A bucket listed in key order and read as streams (the connectors' `ObjectSource`)."""

    def list(self, prefix: str, start_after: str = "") -> Iterator[SourceObjectLike]: ...

    def open(self, key: str) -> BinaryIO: ...


class SourceResolver(Protocol):
    """The connectors service as imports use it."""

    def source_for(
        self, org_id: str, connector_id: str, repository_id: str
    ) -> tuple[ObjectSourceLike, str]:
        """The connector's source and its base prefix; raises a domain error when the
        connector is unknown, deleted or not attached to the repository."""
        ...


class BlobWriter(Protocol):
    """Streams bytes into the blob store at a fresh address in bounded memory (multipart
    for large bodies), answering their size and S3-style ETag."""

    def write(self, address: str, body: BinaryIO, size_hint: int) -> BlobInfo: ...


# The service name the connectors context registers its `SourceResolver` under.
CONNECTORS_SERVICE = "connectors"
