"""What the connectors context reads external storage through, and what imports use of it:
an `ObjectSource` lists and streams one bucket's objects; a `SourceProvider` builds one from a
connector's type, location and (decrypted) config."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, Protocol

from domain.connectors.sources import SourceLocation


@dataclass(frozen=True)
class SourceObject:
    """One object of an external source, as its provider describes it."""

    key: str  # the full key in the bucket (the connector's prefix included)
    size: int
    etag: str  # the provider's ETag, without quotes
    last_modified: datetime | None
    content_type: str | None
    # The provider's version of the object when it has one (GCS: the generation).
    version_id: str = ""


class ObjectSource(Protocol):
    """Read access to one bucket of an external provider."""

    def list(self, prefix: str, start_after: str = "") -> Iterator[SourceObject]:
        """Every object whose key starts with `prefix` and sorts after `start_after`, in
        lexicographic key order, paging through the provider lazily."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A streaming read of one object (close it when done)."""
        ...


class SourceProvider(Protocol):
    """Builds the source of a connector and checks that it answers."""

    def check(self, location: SourceLocation, config: Mapping[str, Any]) -> None:
        """Refuses (`EndpointRefused`) a config naming a host the server must not connect to
        (loopback, private, link-local/metadata, its own addresses) unless an operator
        allowed it; resolves names, so it may take the resolver's time."""
        ...

    def source(self, location: SourceLocation, config: Mapping[str, Any]) -> ObjectSource: ...

    def probe(self, location: SourceLocation, config: Mapping[str, Any]) -> None:
        """List (at most one object of) the location within the provider's timeout; raises
        `SourceFailed` with the provider's error otherwise."""
        ...
