"""Helpers shared by the retention and garbage-collection tests (`test_catalog_gc`,
`test_catalog_retention`)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

from tests.catalog_api import Api, check
from tests.catalog_env import Env

DAY = timedelta(days=1)
LATER = 2 * DAY  # far past the upload grace (2 x upload TTL + 1 h), well inside retention


def unique(label: str) -> bytes:
    return f"{label}:{uuid.uuid4().hex}".encode()


def all_live_bytes_exist(env: Env) -> None:
    """Every address a retained entry version or a staged change names is still stored."""
    for address in env.referenced():
        assert env.container.blobs.stat(address) is not None, address


def imported(api: Api, into: str, source: str, destination: str, prefix: str = "") -> Any:
    """A completed cross-repository (zero-copy) import of `source`'s head into `into`."""
    body = {
        "source_organization": api.org,
        "source_repository": source,
        "destination_path": destination,
        "source_prefix": prefix,
    }
    job = check(api.call("POST", f"{api.repo_url(into)}/import", json=body), 202).json()
    deadline = time.monotonic() + 60
    while True:
        status = check(api.call("GET", f"{api.repo_url(into)}/import/{job['job_id']}"), 200)
        if status.json()["status"] in ("completed", "failed"):
            assert status.json()["status"] == "completed", status.json()
            return status.json()
        assert time.monotonic() < deadline, status.json()
        time.sleep(0.05)
