"""Garbage collection never touches live bytes, and does collect garbage.

A controllable clock dates the commits (the app clock stamps them) and moves GC's "now";
blob ages are their real store times, so a collection shortly after the uploads sees every
blob inside the upload grace, and one two days later sees every blob past it. A third
repository imports from the others (cross-repository imports are zero-copy: its entries name
their blobs), so expiring the source's versions or purging the source repository must leave
every byte it still reads. Retention and session expiry: `test_catalog_retention`.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from infra.settings import Settings
from interfaces.cli.main import cli
from tests import services
from tests.catalog_api import check
from tests.catalog_env import Env, blob_addresses, environment, read_blob
from tests.catalog_model import Model, check_model, check_tree
from tests.conftest import make_settings
from tests.gc_helpers import DAY, LATER, all_live_bytes_exist, imported, unique


@pytest.fixture
def env(backend: Settings) -> Iterator[Env]:
    # No restore window: the scenario's deleted repository is purged at the next collection.
    with environment(backend.model_copy(update={"deleted_retention_days": 0})) as e:
        yield e


# -- the whole picture: live things stay, garbage goes ------------------------------------


def gc_scenario(env: Env) -> None:
    api, t0 = env.api, env.start
    api.create_repository("live", retention_days=30)
    api.create_repository("doomed")
    api.create_repository("mirror", retention_days=30)
    live, mirror = Model(), Model()
    keys = ("a1", "b1", "x1", "a2", "e1", "a3", "e2", "r1", "s1", "in1", "ab1", "mp1", "d1", "d2")
    keys += ("mo1",)
    data = {k: unique(k) for k in keys}

    def session(repo_model: Model, repo: str = "live") -> str:
        sid = api.open_session(repo)
        repo_model.open(sid)
        return sid

    def put(sid: str, path: str, key: str, repo_model: Model = live, repo: str = "live") -> None:
        api.upload(repo, sid, path, data[key])
        repo_model.put(sid, path, data[key])

    def commit(sid: str, message: str, repo_model: Model = live, repo: str = "live") -> str:
        cid = api.commit_ok(repo, sid, message)
        repo_model.committed(sid, cid)
        return cid

    env.at(t0 - 40 * DAY)
    s = session(live)
    put(s, "a", "a1")
    put(s, "b", "b1")
    put(s, "keep/x", "x1")
    c1 = commit(s, "first")

    # The mirror imports live's head (a1, b1, x1) and then lets old/b go: once both
    # repositories' versions of b1 are past retention, b1 is garbage; a1 stays, the mirror's
    # head still reads it after live's own version of it expires.
    env.at(t0 - 39 * DAY)
    m1 = imported(api, "mirror", "live", "old/")["commit_id"]
    mirror.imported(m1, {f"old/{p}": d for p, d in live.head.items()})
    env.at(t0 - 38 * DAY)
    s = session(mirror, "mirror")
    api.delete("mirror", s, "old/b")
    mirror.delete(s, "old/b")
    put(s, "own", "mo1", mirror, "mirror")
    m2 = commit(s, "mirror's own", mirror, "mirror")

    env.at(t0 - 35 * DAY)
    s = session(live)
    put(s, "a", "a2")
    api.delete("live", s, "b")
    live.delete(s, "b")
    api.copy("live", s, "keep/x", "keep/y")  # metadata-only: y shares x's blob
    live.copy(s, "keep/x", "keep/y")
    c2 = commit(s, "second")

    env.at(t0 - 20 * DAY)
    s = session(live)
    put(s, "e", "e1")
    put(s, "a", "a3")
    c3 = commit(s, "third")

    env.at(t0 - 10 * DAY)
    s = session(live)
    put(s, "e", "e2")
    api.delete("live", s, "keep/y")
    live.delete(s, "keep/y")
    c4 = commit(s, "fourth")
    reverted = check(api.revert("live", c4), 200, 201).json()["commit_id"]
    live.reverted(c4, reverted)  # e is e1 again and keep/y is back: old addresses, live again

    env.at(t0 - DAY)
    doomed = Model()
    s = session(doomed, "doomed")
    put(s, "d", "d1", doomed, "doomed")
    commit(s, "doomed", doomed, "doomed")
    # The mirror reads d1 after "doomed" is deleted and purged.
    m3 = imported(api, "mirror", "doomed", "d/")["commit_id"]
    mirror.imported(m3, {f"d/{p}": d for p, d in doomed.head.items()})
    s = session(doomed, "doomed")
    put(s, "d2", "d2", doomed, "doomed")  # staged in a session of a repository to be deleted

    env.at(t0)
    rolled = session(live)
    put(rolled, "r", "r1")
    api.copy("live", rolled, "a", "z")
    api.rollback("live", rolled)
    live.rolled_back(rolled)
    # An open session: a staged upload, a staged tombstone, and an upload still in flight.
    open_one = session(live)
    put(open_one, "s", "s1")
    api.delete("live", open_one, "a")
    live.delete(open_one, "a")
    in_flight = api.upload_unfinalized("live", open_one, "inflight", data["in1"])
    # Another open session with an upload that is never finalized and a multipart upload
    # that is never completed.
    idle = session(live)
    abandoned = api.upload_unfinalized("live", idle, "abandoned", data["ab1"])
    api.start_multipart("live", idle, "parts", data["mp1"])
    live_id, doomed_id = env.repo_id("live"), env.repo_id("doomed")
    mirror_id = env.repo_id("mirror")
    api.delete_repository("doomed")
    by_content: dict[bytes, str] = {}
    for repo_id in (live_id, doomed_id, mirror_id):
        by_content |= env.addresses_by_content(repo_id)
    stored = {k: by_content[v] for k, v in data.items() if v in by_content}
    assert set(stored) == set(data) - {"mp1"}, "every single upload is stored"

    # Run 1, just after the uploads: retention expires versions only stale commits saw,
    # the deleted repository is purged, and no blob is old enough to go.
    first = env.collect(t0 + timedelta(minutes=1))
    assert first.entry_versions_expired_up_to == {live_id: 2, mirror_id: 2}
    assert first.repositories_purged == 1
    assert first.blobs_deleted == 0
    # moto reports every multipart upload as initiated in 2010, so on S3 it goes at once.
    moto = env.container.settings.blob_store == "s3"
    assert first.multiparts_aborted == (1 if moto else 0)
    assert first.sessions_rolled_back == 0
    expired = env.container.catalog_db.query(
        "SELECT path FROM catalog_entries WHERE repository_id = ? AND valid_to <= 2", (live_id,)
    )
    assert expired == []
    for table in ("catalog_entries", "catalog_changes", "catalog_commits", "catalog_staged"):
        rows = env.container.catalog_db.query(
            f"SELECT * FROM {table} WHERE repository_id = ?", (doomed_id,)
        )
        assert rows == [], table
    assert blob_addresses(env.container) >= set(stored.values()), "nothing collected yet"
    assert check_model(api, "live", live, stale={c1, c2}) >= 20
    assert check_model(api, "mirror", mirror, stale={m1, m2}) >= 5
    all_live_bytes_exist(env)

    # The upload that was in flight during the collection is finalized and committed.
    check(api.finalize("live", open_one, "inflight", in_flight, data["in1"]), 200, 201)
    live.put(open_one, "inflight", data["in1"])
    c6 = commit(open_one, "in flight, then committed")

    # Run 2, days later: every unreferenced blob is past the grace and goes; nothing live.
    second = env.collect(t0 + LATER)
    # a1 and d1 would be garbage but for the mirror; b1 is garbage in both repositories.
    garbage = {stored[k] for k in ("b1", "r1", "ab1", "d2")}
    remaining = blob_addresses(env.container)
    assert remaining.isdisjoint(garbage)
    assert second.blobs_deleted == len(garbage)
    assert second.multiparts_aborted == (0 if moto else 1)
    assert second.entry_versions_expired_up_to == {}  # nothing newly stale
    assert remaining == set(stored.values()) - garbage
    assert blob_addresses(env.container, doomed_id) == {stored["d1"]}  # the mirror reads it
    for key in ("x1", "a2", "e1", "a3", "e2", "s1", "in1", "a1", "d1", "mo1"):
        assert read_blob(env.container, stored[key]) == data[key], key
    assert check_model(api, "live", live, stale={c1, c2}) >= 25
    assert check_model(api, "mirror", mirror, stale={m1, m2}) >= 5
    assert api.read("mirror", "old/a") == data["a1"] and api.read("mirror", "d/d") == data["d1"]
    all_live_bytes_exist(env)
    assert api.read("live", "keep/y", ref=c6) == data["x1"]
    assert api.read("live", "e", ref=c4) == data["e2"]  # a retained commit's old version
    # The abandoned upload's bytes are gone: finalizing it now stages nothing.
    late = api.finalize("live", idle, "abandoned", abandoned, data["ab1"])
    assert late.status_code == 400, late.text
    assert api.list_paths("live", session_id=idle) == sorted(live.view(idle))
    log = {c["id"]: c["is_stale"] for c in api.log("live")}
    assert log[c1] is True and log[c2] is True and log[c3] is False


def test_gc_never_deletes_live_bytes_and_collects_garbage(env: Env) -> None:
    gc_scenario(env)


def test_gc_on_s3_never_deletes_live_bytes_and_collects_garbage(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        "sqlite",
        deleted_retention_days=0,
        blob_store="s3",
        s3_bucket=f"gc-{uuid.uuid4().hex[:12]}",
        s3_endpoint_url=services.s3_endpoint(),
        s3_access_key_id="test",
        s3_secret_access_key="test",
    )
    with environment(settings) as e:
        gc_scenario(e)


# -- the CLI ---------------------------------------------------------------------------------


def age_blobs(root: Path, seconds: float) -> None:
    """Make every stored blob look `seconds` older (as if uploaded back then)."""
    when = time.time() - seconds
    for repo in root.iterdir():
        if repo.name.startswith(".") or not repo.is_dir():
            continue
        for blob in repo.iterdir():
            os.utime(blob, (when, when))


def test_the_gc_command_collects_garbage_and_keeps_live_bytes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite")
    v = {k: unique(k) for k in ("a1", "a2", "b1", "r1", "s1", "ab1", "in1")}
    with environment(settings) as env:
        api, t0 = env.api, env.start
        api.create_repository("repo", retention_days=30)
        model = Model()

        def commit_one(path: str, key: str) -> str:
            s = api.open_session("repo")
            model.open(s)
            api.upload("repo", s, path, v[key])
            model.put(s, path, v[key])
            cid = api.commit_ok("repo", s, key)
            model.committed(s, cid)
            return cid

        env.at(t0 - 40 * DAY)
        c1 = commit_one("a", "a1")
        env.at(t0 - 35 * DAY)
        c2 = commit_one("a", "a2")
        env.at(t0 - DAY)
        commit_one("b", "b1")
        env.at(t0)
        rolled = api.open_session("repo")
        api.upload("repo", rolled, "r", v["r1"])
        api.rollback("repo", rolled)
        open_one = api.open_session("repo")
        model.open(open_one)
        api.upload("repo", open_one, "s", v["s1"])
        model.put(open_one, "s", v["s1"])
        api.upload_unfinalized("repo", open_one, "abandoned", v["ab1"])
        repo_id = env.repo_id("repo")
        age_blobs(settings.data_dir / "blobs", 2 * 86400)
        in_flight = api.upload_unfinalized("repo", open_one, "inflight", v["in1"])
        stored = env.addresses_by_content(repo_id)
        assert set(stored) == set(v.values())

    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["gc", "--data-dir", str(settings.data_dir), "--json"],
        env={"TILDE_SECRET_KEY": settings.secret_key, "TILDE_DATABASE_URL": ""},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.output.strip().splitlines()[-1])
    assert report["entry_versions_expired_up_to"] == {repo_id: 2}
    assert report["blobs_deleted"] == 3  # a1 (expired), r1 (rolled back), the abandoned upload
    assert report["sessions_rolled_back"] == 0
    assert report["repositories_purged"] == 0

    with environment(settings, reuse=api) as env:
        owner = env.api
        for key in ("a1", "r1", "ab1"):
            assert env.container.blobs.stat(stored[v[key]]) is None, key
        for key in ("a2", "b1", "s1", "in1"):
            assert read_blob(env.container, stored[v[key]]) == v[key], key
        assert check_model(owner, "repo", model, stale={c1, c2}) >= 4
        check(owner.finalize("repo", open_one, "inflight", in_flight, v["in1"]), 200, 201)
        model.put(open_one, "inflight", v["in1"])
        cid = owner.commit_ok("repo", open_one, "finalized after gc")
        model.committed(open_one, cid)
        check_tree(owner, "repo", model.head)
        assert owner.read("repo", "inflight") == v["in1"]
