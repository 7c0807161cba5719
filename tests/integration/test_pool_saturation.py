"""A saturated read-model pool answers 503 quickly instead of hanging (PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from litestar.testing import TestClient

from domain.shared.values import Actor
from infra.bootstrap import Container, bootstrap
from infra.sql.database import PostgresDatabase
from interfaces.http.app import create_app
from tests import services
from tests.conftest import FAST_HASHER, bearer, create_user, make_settings
from tests.integration.test_identity_http import assert_error


@pytest.fixture
def small_pool(tmp_path: Path) -> Iterator[Container]:
    settings = make_settings(
        tmp_path, "postgres", db_pool_size=1, db_pool_timeout=1, db_max_waiting=1
    )
    container = bootstrap(settings, hasher=FAST_HASHER)
    yield container
    container.close()
    services.drop_database(settings.database_url)


class HeldConnection:
    """Holds the views pool's only connection in another thread until released."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self.held = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        with self.db.connection():
            self.held.set()
            self.release.wait(30)

    def __enter__(self) -> HeldConnection:
        self.thread.start()
        assert self.held.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(10)


def test_a_saturated_read_model_pool_answers_503_within_the_timeout(
    small_pool: Container,
) -> None:
    user = create_user(small_pool)
    result = small_pool.identity.create_api_key(
        owner_type="user", owner_id=user["id"], name="k", actor=Actor("user", user["id"])
    )
    token = result.value[1]
    small_pool.projections.catch_up()
    db = small_pool.db
    assert isinstance(db, PostgresDatabase)
    app = create_app(small_pool, run_background=False)
    with TestClient(app, base_url="http://testserver.local") as client:
        assert client.get("/api/v1/auth/keys", headers=bearer(token)).status_code == 200
        # The process's one pool (event store and views) has two connections: hold both.
        with HeldConnection(db), HeldConnection(db):
            started = time.monotonic()
            response = client.get("/api/v1/auth/keys", headers=bearer(token))
            elapsed = time.monotonic() - started
            body = assert_error(response, 503, "SERVICE_UNAVAILABLE")
            assert "saturated" in body["message"]
            assert response.headers["retry-after"] == "1"
            assert 0.8 <= elapsed < 2.5, elapsed

            # With the one waiting slot taken, further requests are refused at once.
            def timed_get(_: int) -> tuple[int, float]:
                t0 = time.monotonic()
                r = client.get("/api/v1/auth/keys", headers=bearer(token))
                return r.status_code, time.monotonic() - t0

            with ThreadPoolExecutor(4) as pool:
                answers = list(pool.map(timed_get, range(4)))
            assert [status for status, _ in answers] == [503] * 4
            assert max(t for _, t in answers) < 2.5
            assert min(t for _, t in answers) < 0.5  # refused without waiting
            health = client.get("/health")
            assert health.status_code == 503
            assert health.json()["checks"]["read_models"] == "unavailable"
        # Once the connection is back, the same request succeeds.
        recovered = client.get("/api/v1/auth/keys", headers=bearer(token))
        assert recovered.status_code == 200
        assert [k["id"] for k in recovered.json()["results"]] == [str(result.value[0].id)]
