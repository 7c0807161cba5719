"""The size bound on an object's user metadata (it travels back as response headers)."""

from __future__ import annotations

from domain.shared.errors import Invalid

# S3's limit: 2 KB of user-defined metadata, keys and values together, in UTF-8.
MAX_USER_METADATA_BYTES = 2048


def check_metadata_size(metadata: dict[str, str]) -> dict[str, str]:
    """`metadata` unchanged, or `Invalid` when its keys and values exceed 2 KB together."""
    total = sum(
        len(k.encode("utf-8", "surrogatepass")) + len(v.encode("utf-8", "surrogatepass"))
        for k, v in metadata.items()
    )
    if total > MAX_USER_METADATA_BYTES:
        raise Invalid(
            f"metadata keys and values total {total} bytes; at most "
            f"{MAX_USER_METADATA_BYTES} bytes (UTF-8) are allowed"
        )
    return metadata
