"""Helpers shared by the retention and garbage-collection tests (`test_catalog_gc`,
`test_catalog_retention`)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from tests.catalog_env import Env

DAY = timedelta(days=1)
LATER = 2 * DAY  # far past the upload grace (2 x upload TTL + 1 h), well inside retention


def unique(label: str) -> bytes:
    return f"{label}:{uuid.uuid4().hex}".encode()


def all_live_bytes_exist(env: Env) -> None:
    """Every address a retained entry version or a staged change names is still stored."""
    for address in env.referenced():
        assert env.container.blobs.stat(address) is not None, address
