"""Real services for integration tests: a private PostgreSQL cluster, Redis, an S3 server.

Each is taken from an environment variable when set (TILDE_TEST_DATABASE_URL,
TILDE_TEST_REDIS_URL, TILDE_TEST_S3_ENDPOINT), otherwise started here on a free loopback port
and stopped at exit.
A missing binary is an error, not a skip: CI must run these tests for real.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

PG_BIN_DIRS = [
    Path("/usr/lib/postgresql/15/bin"),
    Path("/usr/lib/postgresql/16/bin"),
    Path("/usr/lib/postgresql/17/bin"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _pg_bin(name: str) -> str:
    for d in PG_BIN_DIRS:
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(
            f"PostgreSQL binary {name} not found: install postgresql "
            "(apt-get install -y postgresql) or set TILDE_TEST_DATABASE_URL"
        )
    return found


class PostgresCluster:
    """A throwaway cluster (fsync off: it lives for one test run)."""

    def __init__(self, *, max_connections: int = 400) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tilde-pg-"))
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        data = self.root / "data"
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            [
                _pg_bin("initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            f"-c max_connections={max_connections} -c shared_buffers=128MB"
        )
        self._run(
            [
                _pg_bin("pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(self.root / "log"),
                "-w",
                "start",
            ]
        )
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        atexit.register(self.stop)

    def _run(self, cmd: list[str]) -> None:
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run([_pg_bin("pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop"])
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError(
                "redis-server not found: apt-get install -y redis-server, "
                "or set TILDE_TEST_REDIS_URL"
            )
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        atexit.register(self.stop)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class MotoS3Server:
    """moto's S3-compatible server from this Python environment (presigned URLs, multipart)."""

    def __init__(self) -> None:
        beside = Path(sys.executable).with_name("moto_server")
        command = [str(beside)] if beside.exists() else [sys.executable, "-m", "moto.server"]
        self.port = free_port()
        self.proc = subprocess.Popen(
            [*command, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_port(self.port)
        except RuntimeError:
            self.stop()
            raise RuntimeError(
                "moto_server did not start: pip install 'moto[server]', "
                "or set TILDE_TEST_S3_ENDPOINT"
            ) from None
        self.url = f"http://127.0.0.1:{self.port}"
        atexit.register(self.stop)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


_started: dict[str, object] = {}


def postgres_url() -> str:
    """The admin URL of a PostgreSQL server for tests."""
    if os.environ.get("TILDE_TEST_DATABASE_URL"):
        return os.environ["TILDE_TEST_DATABASE_URL"]
    if "pg" not in _started:
        _started["pg"] = PostgresCluster()
        os.environ["TILDE_TEST_DATABASE_URL"] = _started["pg"].url  # type: ignore[attr-defined]
    return _started["pg"].url  # type: ignore[attr-defined,no-any-return]


def redis_url() -> str:
    if os.environ.get("TILDE_TEST_REDIS_URL"):
        return os.environ["TILDE_TEST_REDIS_URL"]
    if "redis" not in _started:
        _started["redis"] = RedisServer()
        os.environ["TILDE_TEST_REDIS_URL"] = _started["redis"].url  # type: ignore[attr-defined]
    return _started["redis"].url  # type: ignore[attr-defined,no-any-return]


def _with_db(url: str, dbname: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{dbname}"


def create_database(template: str | None = None) -> str:
    """A new database on the test server, empty or a copy of `template` (a database's URL,
    which no one may be connected to); its URL."""
    admin = postgres_url()
    name = f"t_{uuid.uuid4().hex[:16]}"
    copy_of = f' TEMPLATE "{template.rpartition("/")[2]}"' if template else ""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy_of}')
    return _with_db(admin, name)


def drop_database(url: str) -> None:
    admin = postgres_url()
    name = url.rpartition("/")[2]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def s3_endpoint() -> str:
    """The endpoint URL of an S3-compatible server (any access key works with moto)."""
    if os.environ.get("TILDE_TEST_S3_ENDPOINT"):
        return os.environ["TILDE_TEST_S3_ENDPOINT"]
    if "s3" not in _started:
        _started["s3"] = MotoS3Server()
        # Helper processes the tests start (tests.import_worker, ...) use this same server.
        os.environ["TILDE_TEST_S3_ENDPOINT"] = _started["s3"].url  # type: ignore[attr-defined]
    return _started["s3"].url  # type: ignore[attr-defined,no-any-return]
