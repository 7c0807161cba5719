"""The production shape in child processes: `serve --workers N --no-background` API processes,
`worker` processes, CLI commands; and what PostgreSQL says about their connections and locks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

from infra.projections.locks import lock_key
from infra.settings import Settings
from tests.conftest import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
VIEWS = (
    "users",
    "api_keys",
    "organizations",
    "invitations",
    "groups",
    "policies",
    "principals",
    "audit",
    "repositories",
    "secrets",
    "connectors",
    "outbox",
    "sandbox_triggers",
    "sandbox_trigger_runs",
    "trigger-evaluation",
    "import_jobs",
    "imports",
    "sandboxes",
    "sandbox-runs",
)
# Single-instance loops besides the projectors (`/health` reports them unowned too).
SINGLETONS = ("outbox-sender", "trigger-evaluator")


def fleet_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment every process of one deployment shares."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILDE_")}
    env.update(
        {
            "TILDE_DATA_DIR": str(settings.data_dir),
            "TILDE_DATABASE_URL": settings.database_url,
            "TILDE_SECRET_KEY": settings.secret_key,
            "TILDE_CONNECTOR_ALLOWED_ENDPOINTS": settings.connector_allowed_endpoints,
            "TILDE_LOG_LEVEL": "WARNING",
            "TILDE_PROJECTOR_POLL_INTERVAL": "0.05",
            **extra,
        }
    )
    return env


class ApiFleet(ServerProcess):
    """`serve --workers N --no-background` (the uvicorn parent and its re-executed children)."""

    def __init__(self, settings: Settings, workers: int, **extra_env: str) -> None:
        super().__init__(settings)
        self.extra_args = ["--workers", str(workers), "--no-background"]
        self.extra_env = extra_env

    def env(self) -> dict[str, str]:
        return fleet_env(self.settings, **self.extra_env)

    def start(self) -> ApiFleet:
        command = [sys.executable, "-m", "interfaces.cli.main", "serve", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*command, *self.extra_args],
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=str(ROOT),
        )
        # Several processes import the app at once on a shared CI machine: give them time.
        eventually(lambda: self._healthy(), 90, interval=0.2)
        return self

    def _healthy(self) -> bool:
        try:
            return httpx.get(self.url + "/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


class WorkerProcess:
    """`tilde-server worker` in a child process."""

    def __init__(self, settings: Settings, **extra_env: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "interfaces.cli.main", "worker"],
            env=fleet_env(settings, **extra_env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=str(ROOT),
        )
        self.pid = self.proc.pid

    def kill9(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def cli(settings: Settings, *args: str, **extra_env: str) -> subprocess.Popen[bytes]:
    """A `tilde-server …` command, started (not waited for)."""
    return subprocess.Popen(
        [sys.executable, "-m", "interfaces.cli.main", *args],
        env=fleet_env(settings, **extra_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=str(ROOT),
    )


def expected_lock_keys() -> set[int]:
    """Every lock a worker takes at once: one per projector, and the singletons'."""
    return {lock_key(f"projector:{v}") for v in VIEWS} | {lock_key(s) for s in SINGLETONS}


def _signed(classid: int, objid: int) -> int:
    unsigned = (classid << 32) | objid
    return unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned


def advisory_holders(url: str) -> dict[int, str]:
    """Session advisory locks held in this database: key -> the holder's application_name."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT l.classid, l.objid, a.application_name FROM pg_locks l"
            " JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall()
    return {_signed(int(c), int(o)): str(name) for c, o, name in rows}


def application_names(url: str) -> list[str]:
    """application_name of every client connected to this database."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ).fetchall()
    return [str(r[0]) for r in rows]


def eventually(check: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """The first truthy value of `check()` within `timeout` seconds, else AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout}s: {check}")
        time.sleep(interval)


def worker_holds_all(url: str, pid: int) -> bool:
    holders = advisory_holders(url)
    prefix = f"tilde-worker:{pid}:"
    return all(holders.get(k, "").startswith(prefix) for k in expected_lock_keys())
