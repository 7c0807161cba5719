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


def content_of(entry: Mapping[str, Any]) -> tuple[str, int, str, str]:
    """The fields that make an entry what it is (metadata as canonical JSON)."""
    metadata = entry["metadata"]
    if not isinstance(metadata, str):  # a staged entry's dict
        metadata = json.dumps(metadata, sort_keys=True)
    # Rows hold the text the catalog wrote with these same settings: compared as is, so a
    # 1,000-row diff page parses no JSON.
    return (str(entry["etag"]), int(entry["size"]), str(entry["content_type"]), metadata or "{}")


def same_content(left: Mapping[str, Any] | None, right: Mapping[str, Any] | None) -> bool:
    """Whether two entries (None: no entry) are the same object; absent equals absent."""
    if left is None or right is None:
        return left is None and right is None
    return content_of(left) == content_of(right)
