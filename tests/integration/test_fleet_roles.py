"""Process roles hold: `serve --workers N --no-background` children run no projector, whatever
the start order; the worker holds every lock (read from PostgreSQL's pg_locks)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.settings import Settings
from tests import services
from tests.conftest import make_settings
from tests.fleet import (
    ApiFleet,
    WorkerProcess,
    advisory_holders,
    application_names,
    eventually,
    expected_lock_keys,
    worker_holds_all,
)


def pids_of(url: str, role: str) -> set[str]:
    """OS pids of the processes of `role` connected to the database."""
    return {n.split(":")[1] for n in application_names(url) if n.startswith(f"tilde-{role}:")}


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Settings]:
    settings = make_settings(tmp_path, "postgres")
    yield settings
    services.drop_database(settings.database_url)


def test_a_child_process_rebuilds_exactly_its_parents_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = Settings(
        data_dir=tmp_path,
        database_url="postgresql://u:p@db:5432/tilde",
        role="api",
        port=9123,
        auto_approve_signups=True,
        read_your_writes_timeout=1.5,
    )
    for key in list(os.environ):
        if key.startswith("TILDE_"):
            monkeypatch.delenv(key)
    for key, value in parent.to_environment().items():
        monkeypatch.setenv(key, value)
    assert Settings() == parent


@pytest.mark.parametrize("first", ["api", "worker"])
def test_api_processes_hold_no_lock_and_the_worker_holds_all_whatever_the_start_order(
    pg: Settings, first: str
) -> None:
    api = ApiFleet(pg, workers=2)
    worker: WorkerProcess | None = None
    try:
        if first == "api":
            api.start()
            time.sleep(2.0)  # time enough for children that run projectors to take their locks
            worker = WorkerProcess(pg)
        else:
            worker = WorkerProcess(pg)
            eventually(lambda: worker_holds_all(pg.database_url, worker.pid), 60)
            api.start()
        eventually(lambda: worker_holds_all(pg.database_url, worker.pid), 60)
        # Both API children are up and connected (named by their role); none holds a lock.
        eventually(lambda: len(pids_of(pg.database_url, "api")) >= 2, 60)
        api_pids = pids_of(pg.database_url, "api")
        for _ in range(5):
            holders = advisory_holders(pg.database_url)
            assert not [n for n in holders.values() if n.startswith("tilde-api:")], holders
            assert expected_lock_keys() <= set(holders)
            assert {n.split(":")[1] for n in holders.values()} == {str(worker.pid)}
            time.sleep(0.2)
        assert str(api.proc.pid if api.proc else "") not in api_pids  # the parent serves nothing
        answer = httpx.get(api.url + "/health", timeout=10)
        assert "server" not in answer.headers and "date" in answer.headers  # no `uvicorn` banner
    finally:
        api.stop()
        if worker is not None:
            worker.stop()
