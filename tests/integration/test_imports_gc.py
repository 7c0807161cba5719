"""Garbage collection after zero-copy imports: entries of another repository reference the
source's blobs, so expiring the source's versions or purging the source repository never
removes bytes an importing repository still reads (the GC model scenario, with imports)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from infra.settings import Settings
from tests.catalog_api import Api, check
from tests.catalog_env import Env, blob_addresses, environment
from tests.gc_helpers import DAY, LATER, all_live_bytes_exist, unique


@pytest.fixture
def env(backend: Settings) -> Iterator[Env]:
    with environment(backend.model_copy(update={"deleted_retention_days": 0})) as e:
        yield e


def write(api: Api, repo: str, files: dict[str, bytes | None]) -> str:
    sid = api.open_session(repo)
    for path, data in files.items():
        if data is None:
            api.delete(repo, sid, path)
        else:
            api.upload(repo, sid, path, data)
    return api.commit_ok(repo, sid, "write")


def imported(api: Api, into: str, source: str, destination: str, prefix: str = "") -> Any:
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


def test_gc_keeps_bytes_an_import_references_after_the_source_expires_or_is_purged(
    env: Env,
) -> None:
    api, t0 = env.api, env.start
    data = {k: unique(k) for k in ("a1", "b1", "g1", "a2", "d1")}
    api.create_repository("src", retention_days=30)
    api.create_repository("dst", retention_days=30)
    api.create_repository("doomed")

    env.at(t0 - 40 * DAY)
    write(api, "src", {"data/a": data["a1"], "data/b": data["b1"], "tmp/g": data["g1"]})
    write(api, "doomed", {"d": data["d1"]})
    env.at(t0 - 39 * DAY)
    assert imported(api, "dst", "src", "copy/", "data/")["objects_imported"] == 2
    assert imported(api, "dst", "doomed", "d/")["objects_imported"] == 1
    # The source moves on: its first versions become invisible once retention passes them.
    env.at(t0 - 35 * DAY)
    write(api, "src", {"data/a": data["a2"], "data/b": None, "tmp/g": None})
    src_id, doomed_id = env.repo_id("src"), env.repo_id("doomed")
    by_content = env.addresses_by_content(src_id) | env.addresses_by_content(doomed_id)
    stored = {k: by_content[v] for k, v in data.items()}
    api.delete_repository("doomed")

    env.at(t0)
    first = env.collect(t0 + timedelta(minutes=1))
    # Both source commits are past retention: only the head (seq 2) stays visible there.
    assert first.entry_versions_expired_up_to.get(src_id) == 2
    assert first.repositories_purged == 1
    second = env.collect(t0 + LATER)
    # Only what nothing references went: the source's tmp/g, never imported.
    assert second.blobs_deleted == 1
    remaining = blob_addresses(env.container)
    assert stored["g1"] not in remaining
    assert {stored[k] for k in ("a1", "b1", "a2", "d1")} <= remaining
    all_live_bytes_exist(env)
    assert api.read("dst", "copy/a") == data["a1"]
    assert api.read("dst", "copy/b") == data["b1"]
    assert api.read("dst", "d/d") == data["d1"]
    assert api.read("src", "data/a") == data["a2"]
