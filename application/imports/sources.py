"""The two kinds of import source as the runner sees them: a connector's bucket (bytes to
copy) and another repository on the same blob store (addresses to reuse)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from application.imports.ports import ObjectSourceLike
from application.ports import CatalogReads
from domain.catalog.tree import Tree

PAGE = 500


@dataclass(frozen=True)
class Item:
    """One source object: `address` is set when its bytes are already in our blob store."""

    key: str
    size: int
    etag: str
    content_type: str
    last_modified: datetime | None = None
    address: str = ""
    source_metadata: dict[str, Any] | None = None


class ConnectorItems:
    """A connector's objects under a prefix, in key order."""

    def __init__(self, source: ObjectSourceLike) -> None:
        self.source = source

    def list(self, prefix: str, start_after: str) -> Iterator[Item]:
        for obj in self.source.list(prefix, start_after):
            yield Item(
                key=obj.key,
                size=int(obj.size),
                etag=str(obj.etag).strip('"'),
                content_type=obj.content_type or "",
                last_modified=obj.last_modified,
            )

    def open(self, key: str) -> BinaryIO:
        return self.source.open(key)


class RepositoryItems:
    """A repository's objects at one commit, in path order, with their blob addresses
    (every item has one, so the runner reuses it and never opens the bytes)."""

    def __init__(self, reads: CatalogReads, repository_id: str, seq: int) -> None:
        self.reads = reads
        self.tree = Tree.at(repository_id, seq)
        self.empty = seq <= 0

    def list(self, prefix: str, start_after: str) -> Iterator[Item]:
        after = start_after
        while not self.empty:
            rows = self.reads.listing(
                self.tree, prefix=prefix, delimiter="", after=after, amount=PAGE
            )
            for row in rows[:PAGE]:
                entry = self.reads.entry(self.tree, row["path"])
                if entry is None:  # expired under us: retention reached the pinned commit
                    raise LookupError(f"'{row['path']}' is no longer readable at the source")
                yield Item(
                    key=row["path"],
                    size=int(entry["size"]),
                    etag=str(entry["etag"]),
                    content_type=entry["content_type"] or "",
                    address=entry["address"],
                    source_metadata=_json(entry.get("source_metadata")),
                )
            if len(rows) <= PAGE:
                return
            after = rows[PAGE - 1]["path"]


def _json(value: Any) -> dict[str, Any] | None:
    if not value:
        return None
    return dict(json.loads(value)) if isinstance(value, str) else dict(value)
