"""An entry's identity is its content, not where its bytes are stored.

Every upload gets a fresh storage address (garbage collection relies on that), so two
entries are the same when their ETag, size, content type and user metadata are: writing
identical bytes back, or staging a change and undoing it, changes nothing (lakeFS compares
checksums, not addresses, the same way).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

IDENTITY = ("etag", "size", "content_type", "metadata")


def content_of(entry: Mapping[str, Any]) -> tuple[str, int, str, str]:
    """The fields that make an entry what it is (metadata as canonical JSON)."""
    metadata = entry["metadata"]
    if isinstance(metadata, str):  # a row's column: JSON text
        metadata = json.loads(metadata or "{}")
    canonical = json.dumps(metadata, sort_keys=True)
    return (str(entry["etag"]), int(entry["size"]), str(entry["content_type"]), canonical)


def same_content(left: Mapping[str, Any] | None, right: Mapping[str, Any] | None) -> bool:
    """Whether two entries (None: no entry) are the same object; absent equals absent."""
    if left is None or right is None:
        return left is None and right is None
    return content_of(left) == content_of(right)
