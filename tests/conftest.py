"""Shared fixtures: one `backend` fixture runs behaviour tests on SQLite and on PostgreSQL."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from litestar.testing import TestClient

from domain.shared.values import Actor
from infra.bootstrap import Container, bootstrap
from infra.crypto.passwords import Argon2PasswordHasher
from infra.logging import configure_logging
from infra.settings import Settings
from tests import services
from tests.apps import borrow_app, give_back, lent_app
from tests.builders import PASSWORD, name, signup_body

# Real argon2id, with a cost small enough for hundreds of logins in a test run.
FAST_HASHER = Argon2PasswordHasher(time_cost=1, memory_cost=1024)
TEST_ENDPOINTS = "127.0.0.1"


def make_settings(tmp_path: Path, kind: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "secret_key": "test-secret-key",
        "db_pool_size": 4,
        "log_level": "WARNING",
        "projector_poll_interval": 0.02,
        # A port of its own, so base_url (upload URLs, web_url) is right for a LiveServer.
        "port": services.free_port(),
        # The S3 server (moto) and the GCS emulator listen on loopback, which the connector
        # endpoint guard refuses unless allowed (tests/integration/test_connector_endpoints.py).
        "connector_allowed_endpoints": TEST_ENDPOINTS,
    }
    if kind == "postgres" and "database_url" not in overrides:
        values["database_url"] = services.create_database(template=schema_template())
    values.update(overrides)
    return Settings(**values)


_schema_template: list[str] = []


def schema_template() -> str:
    """A PostgreSQL database holding what `bootstrap` creates in an empty one (tables, no
    event), made once per test process: a copy of it is ready in about a tenth of the time
    that creating the schema takes. Bootstrap still runs on the copy, the way a server
    restarts on its database."""
    if not _schema_template:
        url = services.create_database()
        with tempfile.TemporaryDirectory() as data_dir:
            settings = Settings(
                data_dir=Path(data_dir), secret_key="test-secret-key", database_url=url,
                log_level="WARNING", db_pool_size=1,
            )  # fmt: skip
            bootstrap(settings, hasher=FAST_HASHER).close()
        _schema_template.append(url)
    return _schema_template[0]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings for a fresh, empty store of each kind."""
    settings = make_settings(tmp_path, request.param)
    yield settings
    if settings.is_postgres:
        services.drop_database(settings.database_url)


@pytest.fixture
def container(backend: Settings) -> Iterator[Container]:
    c = bootstrap(backend, hasher=FAST_HASHER)
    yield c
    c.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient[Any]]:
    with lent_app(container) as app, TestClient(app, base_url="http://testserver.local") as c:
        yield c


def create_user(
    container: Container, username: str | None = None, *, approve: bool = True, admin: bool = False
) -> dict[str, Any]:
    body = signup_body(username or name())
    if admin:
        created = container.identity.create_admin(
            username=body["username"],
            email=body["email"],
            full_name=body["full_name"],
            password=PASSWORD,
        )
        user = created.value
        container.wait_for(created.written)
    else:
        signed_up = container.identity.signup(**body)
        user = signed_up.value
        container.wait_for(signed_up.written)
        if approve:
            # The read models (listings of pending users, logins) catch up before the
            # test reads them: another actor's write is not awaited by the API.
            container.wait_for(
                container.identity.approve(body["username"], Actor.operator()).written
            )
    return {**body, "id": str(user.id)}


def create_key(container: Container, user: dict[str, Any], key_name: str = "test") -> str:
    result = container.identity.create_api_key(
        owner_type="user", owner_id=user["id"], name=key_name, actor=Actor("user", user["id"])
    )
    container.wait_for(result.written)
    return result.value[1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class LiveServer:
    """The app under uvicorn in a thread, on a free loopback port."""

    def __init__(self, container: Container) -> None:
        self.port = container.settings.port
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = borrow_app(container)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        services.wait_port(self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        if not self.thread.is_alive():  # else it may still serve: never lend it again
            give_back(self.app)


@pytest.fixture
def live_server(container: Container) -> Iterator[LiveServer]:
    with LiveServer(container) as server:
        yield server


class ServerProcess:
    """`tilde-server serve` in a child process (for crash tests: kill -9 and restart)."""

    def __init__(self, settings: Settings, port: int | None = None) -> None:
        self.settings = settings
        self.port = port or services.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.extra_args: list[str] = []  # more `serve` options, e.g. ["--workers", "2"]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "TILDE_DATA_DIR": str(self.settings.data_dir),
                "TILDE_DATABASE_URL": self.settings.database_url,
                "TILDE_SECRET_KEY": self.settings.secret_key,
                "TILDE_LOG_LEVEL": "WARNING",
                "TILDE_DB_POOL_SIZE": "6",
                "TILDE_CONNECTOR_ALLOWED_ENDPOINTS": self.settings.connector_allowed_endpoints,
            }
        )
        return env

    def start(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "interfaces.cli.main",
                "serve",
                "--port",
                str(self.port),
                *self.extra_args,
            ],
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server process did not become healthy")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


configure_logging("WARNING", "console")

# The suite's process keeps growing (every test's app, container and client stay reachable
# for a while): with the default thresholds each full collection walks all of it again, and
# building an app (hundreds of route signatures) triggers several. What was imported so far
# is frozen out of the collector's walks and collections run less often: a test's app and
# container set up in ~0.22 s instead of ~0.34 s (SQLite, measured).
gc.freeze()
gc.set_threshold(50_000, 20, 100)
