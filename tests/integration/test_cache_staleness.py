"""Verified keys and authorization snapshots cannot go stale: a revocation, a member removal
or a policy detach applies in every process within `BOUND` seconds, whatever happens to
NOTIFY (a dropped LISTEN connection) or to the worker (none running, killed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from interfaces.http.app import create_app
from tests import services
from tests.conftest import FAST_HASHER, bearer, create_key, create_user, make_settings
from tests.orgs import assert_error
from tests.staleness import (
    BOUND,
    WorkerProcess,
    key_accepted,
    org_with_members,
    remove_detach_revoke,
    seconds_until_refused,
    still_granted,
    terminate_backends,
    user_principal,
    wait_listening,
)


def test_a_key_revoked_while_it_is_being_verified_is_refused_next_time(
    backend: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = bootstrap(backend, hasher=FAST_HASHER)
    try:
        user = create_user(container)
        token = create_key(container, user)
        identity = container.identity
        verify = identity._authenticate_bearer

        def revoked_midway(presented: str) -> Any:
            principal = verify(presented)  # loaded and checked: not revoked yet
            assert principal is not None
            identity.revoke_api_key(  # lands before the verified key is cached
                principal.key_id,
                owner_type="user",
                owner_id=user["id"],
                actor=user_principal(user).actor,
            )
            return principal

        monkeypatch.setattr(identity, "_authenticate_bearer", revoked_midway)
        assert identity.authenticate_bearer(token) is not None  # began before the revoke
        monkeypatch.undo()
        assert identity.remembered_bearer(token) is None
        assert identity.authenticate_bearer(token) is None
    finally:
        container.close()


@pytest.fixture
def database(tmp_path: Path) -> Any:
    url = services.create_database()
    yield url
    services.drop_database(url)


def containers(tmp_path: Path, url: str, **api: Any) -> tuple[Container, Container]:
    """An API process (`api` overrides its settings) and another process on one database."""
    # "sqlite" only stops make_settings from creating a database: both use `url`.
    other = bootstrap(
        make_settings(tmp_path / "other", "sqlite", database_url=url), hasher=FAST_HASHER
    )
    settings = make_settings(tmp_path / "api", "sqlite", database_url=url, **api)
    return bootstrap(settings, hasher=FAST_HASHER), other


def test_with_the_listen_connection_dropped_writes_apply_within_the_bound(
    tmp_path: Path, database: str
) -> None:
    api, worker = containers(tmp_path, database)
    assert api.listener is not None
    api.listener.application_name = "test-api-listen"
    api.listener.reconnect_delay = 60.0  # it does not come back: only the head check helps
    worker.start_background()
    api.start_listening()
    try:
        org = org_with_members(worker)
        granted = still_granted(api, org)
        assert all(check() for check in granted.values())  # cached in the API process
        wait_listening(database, "test-api-listen")
        terminate_backends(database, "test-api-listen")
        took = seconds_until_refused(granted, remove_detach_revoke(worker, org))
        assert max(took.values()) <= BOUND, took
    finally:
        api.close()
        worker.close()


def test_a_listen_reconnect_drops_what_was_cached_before_it(tmp_path: Path, database: str) -> None:
    api, worker = containers(tmp_path, database, cache_check_interval=3600.0)
    assert api.listener is not None
    api.listener.application_name = "test-api-listen"
    api.listener.reconnect_delay = 0.5
    worker.start_background()
    api.start_listening()
    try:
        org = org_with_members(worker)
        granted = still_granted(api, org)
        assert all(check() for check in granted.values())
        wait_listening(database, "test-api-listen")
        terminate_backends(database, "test-api-listen")
        since = remove_detach_revoke(worker, org)  # NOTIFYs sent while nobody listens
        assert key_accepted(api, org.revoked.token), "the premise: the NOTIFY was lost"
        took = seconds_until_refused(granted, since)
        # Reconnecting (after 0.5 s) is what dropped the caches: no head check ran.
        assert max(took.values()) <= 0.5 + BOUND, took
    finally:
        api.close()
        worker.close()


def test_with_no_projector_running_anywhere_writes_apply_within_the_bound(
    tmp_path: Path, database: str
) -> None:
    api, other = containers(tmp_path, database, run_projectors=False)
    api.start_listening()
    try:
        org = org_with_members(other)
        granted = still_granted(api, org)
        assert all(check() for check in granted.values())
        took = seconds_until_refused(granted, remove_detach_revoke(other, org))
        assert max(took.values()) <= BOUND, took
        assert not any(r.active for c in (api, other) for r in c.projections.runners.values())
    finally:
        api.close()
        other.close()


def test_views_folded_by_api_processes_rebuild_to_the_same_tables(
    tmp_path: Path, database: str
) -> None:
    api, other = containers(tmp_path, database, run_projectors=False)
    try:
        org = org_with_members(other)
        assert all(check() for check in still_granted(api, org).values())
        seconds_until_refused(still_granted(api, org), remove_detach_revoke(other, org))
        tables = ("organizations", "org_members", "policies", "policy_attachments")
        folded = {t: sorted(map(str, api.db.query(f"SELECT * FROM {t}"))) for t in tables}
        api.projections.rebuild(["organizations", "policies"])
        rebuilt = {t: sorted(map(str, api.db.query(f"SELECT * FROM {t}"))) for t in tables}
        assert rebuilt == folded
    finally:
        api.close()
        other.close()


def test_a_killed_worker_does_not_keep_removed_members_in(tmp_path: Path, database: str) -> None:
    api, other = containers(tmp_path, database, run_projectors=False)
    worker = WorkerProcess(database, tmp_path / "worker")
    api.start_listening()
    try:
        worker.start(locks=len(api.projections.runners))
        org = org_with_members(other)
        granted = still_granted(api, org)
        assert all(check() for check in granted.values())
        worker.kill9()
        took = seconds_until_refused(granted, remove_detach_revoke(other, org))
        assert max(took.values()) <= BOUND, took
    finally:
        worker.kill9()
        api.close()
        other.close()


def test_the_guard_refuses_within_the_bound_with_no_projector_running(
    tmp_path: Path, database: str
) -> None:
    api, other = containers(tmp_path, database, run_projectors=False)
    app = create_app(api, run_background=False)
    try:
        org = org_with_members(other)
        with TestClient(app, base_url="http://testserver.local") as client:
            url = f"/api/v1/organizations/{org.name}"
            removed, revoked = bearer(org.removed.token), bearer(org.revoked.token)
            for headers in (removed, revoked, removed, revoked):  # the second time from memory
                assert client.get(url, headers=headers).status_code == 200
            granted = {
                "removed": lambda: client.get(url, headers=removed).status_code == 200,
                "revoked": lambda: client.get(url, headers=revoked).status_code == 200,
            }
            took = seconds_until_refused(granted, remove_detach_revoke(other, org))
            assert max(took.values()) <= BOUND, took
            assert_error(client.get(url, headers=removed), 404, "NOT_FOUND")
            assert_error(client.get(url, headers=revoked), 401)
    finally:
        api.close()
        other.close()
