"""Retention and session expiry: the collector never expires what an open session or a
retained commit can still reach, and rolls back sessions past their maximum duration.

A controllable clock dates the commits (the app clock stamps them) and moves GC's "now".
Blob garbage collection itself: `test_catalog_gc`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from infra.settings import Settings
from tests.catalog_env import Env, environment, read_blob
from tests.catalog_model import Model, check_model
from tests.gc_helpers import DAY, LATER, all_live_bytes_exist, unique


@pytest.fixture
def env(backend: Settings) -> Iterator[Env]:
    with environment(backend) as e:
        yield e


# -- sessions: their base is protected, and they expire --------------------------------------


def test_retention_never_expires_what_an_open_sessions_base_sees(env: Env) -> None:
    api, t0 = env.api, env.start
    api.create_repository("pinned", retention_days=30)
    model = Model()
    v = {k: unique(k) for k in ("a1", "b1", "a2", "c1", "n1")}

    env.at(t0 - 40 * DAY)
    s = api.open_session("pinned")
    model.open(s)
    for path, key in (("a", "a1"), ("b", "b1")):
        api.upload("pinned", s, path, v[key])
        model.put(s, path, v[key])
    c1 = api.commit_ok("pinned", s, "one")
    model.committed(s, c1)
    old = api.open_session("pinned")  # based on c1, kept open across the collections
    model.open(old)

    env.at(t0 - 35 * DAY)
    s = api.open_session("pinned")
    model.open(s)
    api.upload("pinned", s, "a", v["a2"])
    model.put(s, "a", v["a2"])
    api.delete("pinned", s, "b")
    model.delete(s, "b")
    c2 = api.commit_ok("pinned", s, "two")
    model.committed(s, c2)

    env.at(t0 - DAY)
    s = api.open_session("pinned")
    model.open(s)
    api.upload("pinned", s, "c", v["c1"])
    model.put(s, "c", v["c1"])
    c3 = api.commit_ok("pinned", s, "three")
    model.committed(s, c3)
    repo_id = env.repo_id("pinned")
    stored = env.addresses_by_content(repo_id)

    # c1 and c2 are stale, but the open session still sees c1's a and b: nothing expires.
    for when in (t0, t0 + LATER):
        report = env.collect(when)
        assert repo_id not in report.entry_versions_expired_up_to
        assert report.blobs_deleted == 0
        assert api.read("pinned", "a", session_id=old) == v["a1"]
        assert api.read("pinned", "b", session_id=old) == v["b1"]
        assert check_model(api, "pinned", model, stale={c1, c2}) >= 5
    rows = env.container.catalog_db.query(
        "SELECT COUNT(*) AS n FROM catalog_entries WHERE repository_id = ?", (repo_id,)
    )
    assert int(rows[0]["n"]) == 4  # a1, b1, a2, c1: every version the session can reach

    # The session copies b from its base (a version the head no longer has) and commits.
    api.copy("pinned", old, "b", "b-again")
    model.copy(old, "b", "b-again")
    api.upload("pinned", old, "n", v["n1"])
    model.put(old, "n", v["n1"])
    c4 = api.commit_ok("pinned", old, "from an old base")
    model.committed(old, c4)

    # With no session left on c1, retention applies; b1's bytes live on through the copy.
    report = env.collect(t0 + LATER)
    assert report.entry_versions_expired_up_to == {repo_id: 2}
    assert report.blobs_deleted == 1
    assert env.container.blobs.stat(stored[v["a1"]]) is None
    assert read_blob(env.container, stored[v["b1"]]) == v["b1"]
    assert api.read("pinned", "b-again") == v["b1"]
    assert check_model(api, "pinned", model, stale={c1, c2}) >= 8
    all_live_bytes_exist(env)


def test_gc_rolls_back_sessions_older_than_their_maximum_duration(env: Env) -> None:
    api, t0 = env.api, env.start
    api.create_repository("short", session_max_duration_days=2)
    api.create_repository("long")  # the default: 7 days
    staged = {k: unique(k) for k in ("short", "long", "fresh", "base")}
    base = api.open_session("short")
    api.upload("short", base, "base", staged["base"])
    api.commit_ok("short", base, "base")
    expiring = api.open_session("short")
    api.upload("short", expiring, "f", staged["short"])
    keeps = api.open_session("long")
    api.upload("long", keeps, "f", staged["long"])
    short_id, long_id = env.repo_id("short"), env.repo_id("long")
    stored = env.addresses_by_content(short_id) | env.addresses_by_content(long_id)

    report = env.collect(t0 + DAY + timedelta(hours=1))
    assert report.sessions_rolled_back == 0
    assert api.read("short", "f", session_id=expiring) == staged["short"]

    report = env.collect(t0 + 3 * DAY)
    assert report.sessions_rolled_back == 1
    # Rolled back: nothing to commit, its staged bytes were collected in the same pass.
    gone = api.commit("short", expiring, "too late")
    assert gone.status_code == 404, gone.text
    row = env.container.catalog_db.query_one(
        "SELECT status FROM catalog_sessions WHERE id = ?", (expiring,)
    )
    assert row is not None and row["status"] == "rolled_back"
    assert env.container.blobs.stat(stored[staged["short"]]) is None
    assert api.read("short", "base") == staged["base"]
    assert api.read("long", "f", session_id=keeps) == staged["long"]

    report = env.collect(t0 + 8 * DAY)
    assert report.sessions_rolled_back == 1  # the 7-day session now
    assert env.container.blobs.stat(stored[staged["long"]]) is None
    assert api.read("short", "base") == staged["base"]
    assert env.collect(t0 + 8 * DAY).sessions_rolled_back == 0


def test_a_commit_beyond_retention_cannot_be_reverted_into_a_wrong_tree(env: Env) -> None:
    api, t0 = env.api, env.start
    api.create_repository("old", retention_days=30)
    v1, v2 = unique("v1"), unique("v2")
    env.at(t0 - 40 * DAY)
    s = api.open_session("old")
    api.upload("old", s, "a", v1)
    api.commit_ok("old", s, "one")
    env.at(t0 - 35 * DAY)
    s = api.open_session("old")
    api.upload("old", s, "a", v2)
    c2 = api.commit_ok("old", s, "two")
    env.collect(t0)  # expires a@v1: only stale commits could see it
    reverted = api.revert("old", c2)
    if reverted.status_code in (200, 201):
        # Undoing c2 must bring a@v1 back; it must never delete `a`.
        assert api.list_paths("old") == ["a"], "the revert deleted 'a' instead of restoring it"
        assert api.read("old", "a") == v1
    else:
        assert reverted.status_code == 410, reverted.text


def test_a_commit_racing_the_collector_does_not_abort_the_collection(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit that lands between the collector loading a repository and recording its
    retention must not make the whole collection fail (it retries, like every command)."""
    api, t0 = env.api, env.start
    api.create_repository("busy", retention_days=30)
    v = {k: unique(k) for k in ("a1", "a2", "raced")}
    env.at(t0 - 40 * DAY)
    s = api.open_session("busy")
    api.upload("busy", s, "a", v["a1"])
    api.commit_ok("busy", s, "one")
    env.at(t0 - 35 * DAY)
    s = api.open_session("busy")
    api.upload("busy", s, "a", v["a2"])
    api.commit_ok("busy", s, "two")
    env.at(t0)
    busy_id = env.repo_id("busy")
    reads = env.container.catalog.reads
    original = reads.stale_boundary
    raced: list[str] = []

    def racing(repository_id: str, before: str) -> int:
        if not raced:  # the collector holds the repository now: a commit lands meanwhile
            s = api.open_session("busy")
            api.upload("busy", s, "raced", v["raced"])
            raced.append(api.commit_ok("busy", s, "lands during the collection"))
        return int(original(repository_id, before))

    monkeypatch.setattr(reads, "stale_boundary", racing)
    report = env.collect(t0 + LATER)
    assert raced
    assert report.entry_versions_expired_up_to == {busy_id: 2}
    assert report.blobs_deleted == 1  # a1, expired; a2 and the raced commit stay
    assert api.read("busy", "a") == v["a2"]
    assert api.read("busy", "raced", ref=raced[0]) == v["raced"]
