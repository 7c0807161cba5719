"""The documented fleet fits PostgreSQL's default max_connections=100: `serve --workers 4
--no-background`, a worker and four concurrent CLI commands under load, with connections at
most the README's formula (pool + 1 per API process, pool + 2 per worker, 3 per CLI command)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from infra.eventstore.environment import CLI_POOL_SIZE
from infra.settings import Settings
from tests import services
from tests.builders import signup_body
from tests.conftest import make_settings
from tests.fleet import ApiFleet, WorkerProcess, cli, eventually, worker_holds_all

API_PROCESSES = 4
CLI_COMMANDS = 4
POOL = Settings().db_pool_size  # the default, as an operator would run it
BOUND = API_PROCESSES * (POOL + 1) + (POOL + 2) + CLI_COMMANDS * (CLI_POOL_SIZE + 1)


class ConnectionSampler:
    """Samples the server's client connections every 50 ms; keeps the maximum."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.peak_tilde = 0
        self.peak_all = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> tuple[int, int]:
        row = self.conn.execute(
            "SELECT count(*) FILTER (WHERE application_name LIKE 'tilde-%%'), count(*)"
            " FROM pg_stat_activity WHERE backend_type = 'client backend'"
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            tilde, total = self.sample()
            self.peak_tilde = max(self.peak_tilde, tilde)
            self.peak_all = max(self.peak_all, total)

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def default_cluster() -> Iterator[services.PostgresCluster]:
    cluster = services.PostgresCluster(max_connections=100)
    yield cluster
    cluster.stop()


def test_the_fleet_fits_the_default_max_connections_under_load(
    default_cluster: services.PostgresCluster, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, "sqlite", database_url=default_cluster.url)
    api = ApiFleet(settings, workers=API_PROCESSES)
    worker = WorkerProcess(settings)
    sampler = ConnectionSampler(default_cluster.url)
    try:
        eventually(lambda: worker_holds_all(settings.database_url, worker.pid), 60)
        api.start()
        with sampler, ThreadPoolExecutor(8) as pool:
            stop = time.monotonic() + 6

            def load(i: int) -> list[int]:
                statuses = []
                with httpx.Client(base_url=api.url, timeout=30) as client:
                    while time.monotonic() < stop:
                        if i % 2:  # writes (event store + views) and reads of every kind
                            r = client.post("/api/v1/auth/signup", json=signup_body())
                        else:
                            r = client.get("/health")
                        statuses.append(r.status_code)
                return statuses

            loads = [pool.submit(load, i) for i in range(8)]
            time.sleep(1.0)
            commands = [cli(settings, "users", "list") for _ in range(CLI_COMMANDS)]
            outcomes = [
                (c.wait(timeout=90), c.stderr.read() if c.stderr else b"") for c in commands
            ]
            statuses = [s for f in loads for s in f.result()]
        at_rest, _ = sampler.sample()
    finally:
        sampler.conn.close()
        api.stop()
        worker.stop()
    log = (default_cluster.root / "log").read_text(errors="replace")
    print(
        f"connections: peak {sampler.peak_tilde} tilde / {sampler.peak_all} total, "
        f"{at_rest} after the load; bound {BOUND}; {len(statuses)} requests"
    )
    assert "too many clients" not in log
    assert [rc for rc, _ in outcomes] == [0] * CLI_COMMANDS, [
        e.decode()[-2000:] for _, e in outcomes
    ]
    assert statuses and set(statuses) <= {200, 201}, sorted(set(statuses))
    assert 0 < sampler.peak_tilde <= BOUND
    assert BOUND < 97  # 100 minus superuser_reserved_connections
