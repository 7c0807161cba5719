"""High availability of workers: a standby takes over a killed worker's locks within seconds;
with no worker alive, API processes still run no projector, writes answer at once instead of
waiting for views nobody advances, and /health (and a gauge) says degraded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from application.base import Written
from infra.bootstrap import Container, bootstrap
from infra.projections.runner import read_positions
from infra.settings import Settings
from interfaces.http.app import create_app
from tests import services
from tests.builders import signup_body
from tests.conftest import FAST_HASHER, make_settings
from tests.fleet import (
    SINGLETONS,
    VIEWS,
    WorkerProcess,
    advisory_holders,
    eventually,
    expected_lock_keys,
    worker_holds_all,
)


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Settings]:
    settings = make_settings(tmp_path, "postgres")
    yield settings
    services.drop_database(settings.database_url)


def api_container(settings: Settings, **overrides: Any) -> Container:
    """An API process's container: serves, runs no projector."""
    return bootstrap(settings.model_copy(update={"role": "api", **overrides}), hasher=FAST_HASHER)


def signup(container: Container) -> Written:
    result = container.identity.signup(**signup_body())
    return next(w for w in result.written if w.application == "identity")


def folded(container: Container, written: Written) -> bool:
    return read_positions(container.db, "users").get("identity", 0) >= written.position


def test_a_standby_worker_takes_over_within_seconds_of_the_active_one_being_killed(
    pg: Settings,
) -> None:
    api = api_container(pg)
    active = WorkerProcess(pg)
    standby: WorkerProcess | None = None
    try:
        eventually(lambda: worker_holds_all(pg.database_url, active.pid), 60)
        standby = WorkerProcess(pg)
        time.sleep(3.0)  # the standby is up and polling; it must not have taken anything
        assert worker_holds_all(pg.database_url, active.pid)
        written = signup(api)
        assert api.wait_for([written], timeout=10)

        active.kill9()
        killed = time.monotonic()
        eventually(lambda: worker_holds_all(pg.database_url, standby.pid), 10, interval=0.05)
        takeover = time.monotonic() - killed
        print(f"standby holds every lock {takeover:.2f}s after kill -9 of the active worker")
        assert takeover < 5.0, takeover
        # The standby now advances the views: a write waits for it and sees its effect.
        written = signup(api)
        started = time.monotonic()
        assert api.wait_for([written], timeout=10)
        assert folded(api, written)
        assert time.monotonic() - started < 2.0
    finally:
        active.stop()
        if standby is not None:
            standby.stop()
        api.close()


def test_with_the_worker_killed_writes_answer_at_once_and_views_catch_up_when_one_returns(
    pg: Settings,
) -> None:
    api = api_container(pg)
    worker = WorkerProcess(pg)
    second: WorkerProcess | None = None
    try:
        eventually(lambda: worker_holds_all(pg.database_url, worker.pid), 60)
        client = TestClient(create_app(api), base_url="http://testserver.local")
        with client:
            assert client.get("/health").json()["status"] == "ok"

            worker.kill9()
            eventually(lambda: not advisory_holders(pg.database_url), 10, interval=0.05)
            time.sleep(1.1)  # past the owner cache's second
            waits = []
            stale = []
            for _ in range(3):
                written = signup(api)
                started = time.monotonic()
                api.wait_for([written])  # TILDE_READ_YOUR_WRITES_TIMEOUT is 5 s
                waits.append(time.monotonic() - started)
                stale.append(written)
            assert max(waits) < 0.3, waits
            # Over HTTP too: a signup answers without the 5 s stall.
            started = time.monotonic()
            response = client.post("/api/v1/auth/signup", json=signup_body())
            assert response.status_code == 201, response.text
            assert time.monotonic() - started < 1.5

            # The API process still runs no projector, and says so.
            assert not advisory_holders(pg.database_url)
            body = client.get("/health")
            assert body.status_code == 200
            health = body.json()
            assert health["status"] == "degraded"
            assert health["checks"]["projectors"] == "degraded"
            assert set(health["projectors"]["unowned"]) == {*VIEWS, *SINGLETONS}
            metrics = client.get("/metrics").text
            assert "tilde_degraded 1.0" in metrics
            assert 'tilde_projector_owned{projection="users"} 0.0' in metrics

            # A worker comes back: the views catch up with the writes made meanwhile.
            second = WorkerProcess(pg)
            eventually(lambda: all(folded(api, w) for w in stale), 60)
            eventually(lambda: worker_holds_all(pg.database_url, second.pid), 10)
            assert client.get("/health").json()["status"] == "ok"
            assert "tilde_degraded 0.0" in client.get("/metrics").text
    finally:
        worker.stop()
        if second is not None:
            second.stop()
        api.close()


def test_without_a_live_projector_a_write_does_not_wait_and_health_is_degraded(
    backend: Settings,
) -> None:
    api = api_container(backend)
    try:
        with TestClient(create_app(api), base_url="http://testserver.local") as client:
            written = signup(api)
            started = time.monotonic()
            assert not api.wait_for([written])
            assert time.monotonic() - started < 0.3
            assert not folded(api, written)  # nobody advanced the view: it is stale, not waited
            health = client.get("/health")
            assert health.status_code == 200
            assert health.json()["status"] == "degraded"
            assert "users" in health.json()["projectors"]["unowned"]
    finally:
        api.close()


def test_health_is_degraded_when_a_live_projector_lags_beyond_the_threshold(
    pg: Settings,
) -> None:
    api = api_container(pg, health_max_lag_events=1)
    # A stuck owner: holds every projector's lock and folds nothing.
    stuck = psycopg.connect(pg.database_url, autocommit=True)
    try:
        for key in expected_lock_keys():
            stuck.execute("SELECT pg_advisory_lock(%s)", (key,))
        with TestClient(create_app(api), base_url="http://testserver.local") as client:
            assert client.get("/health").json()["status"] == "ok"
            for _ in range(2):
                signup(api)
            time.sleep(1.1)  # past the owner cache
            health = client.get("/health").json()
            assert health["status"] == "degraded"
            assert health["projectors"]["unowned"] == []
            assert health["projectors"]["lagging"]["users/identity"] >= 2
            assert "tilde_degraded 1.0" in client.get("/metrics").text
    finally:
        stuck.close()
        api.close()
