"""`tilde-server backup` under write load, `restore` elsewhere: every commit acknowledged
before the backup began is there, with its bytes, and the views rebuild to the same rows."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner
from litestar.testing import TestClient

from infra.bootstrap import bootstrap
from infra.sql.database import Database
from interfaces.cli.backup import backup, restore
from interfaces.cli.common import settle_views
from interfaces.cli.main import cli
from interfaces.http.app import create_app
from tests.catalog_api import Api, open_org
from tests.catalog_env import dump_catalog
from tests.conftest import FAST_HASHER, LiveServer, make_settings

REPO = "data"


class Writer(threading.Thread):
    """Commits one object per commit through HTTP until stopped; records what was acked."""

    def __init__(self, api: Api) -> None:
        super().__init__(daemon=True)
        self.api = api
        self.acked: list[tuple[str, str, bytes]] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            i = 0
            while not self.stop.is_set():
                path, data = f"load/{i:05d}.txt", f"payload {i}\n".encode() * (i % 7 + 1)
                sid = self.api.open_session(REPO)
                self.api.upload(REPO, sid, path, data)
                self.acked.append((self.api.commit_ok(REPO, sid, f"commit {i}"), path, data))
                i += 1
        except BaseException as e:  # reported by the test, not lost in the thread
            self.error = e


def dump_views(db: Database) -> dict[str, list[Any]]:
    """Every row of every read-model table except projector bookkeeping."""
    tables = [
        r["name"]
        for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        if "tracking" not in r["name"] and not r["name"].startswith("sqlite_")
    ]
    return {
        t: sorted(repr(sorted(dict(r).items())) for r in db.query(f"SELECT * FROM {t}"))
        for t in tables
    }


def invoke(command: Any, *args: str) -> str:
    result = CliRunner().invoke(command, list(args), env={"TILDE_DATABASE_URL": ""})
    assert result.exit_code == 0, result.output
    return result.output


def test_backup_under_write_load_restores_every_acknowledged_commit(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "live", "sqlite")
    container = bootstrap(settings, hasher=FAST_HASHER)
    target = tmp_path / "backup"
    try:
        with LiveServer(container) as server, httpx.Client(base_url=server.url) as http:
            api = open_org(http, container)
            api.create_repository(REPO)
            writer = Writer(Api(http, api.auth, api.org))
            writer.start()
            while len(writer.acked) < 5 and writer.error is None and writer.is_alive():
                writer.join(0.05)
            before = list(writer.acked)  # acknowledged before the backup began
            output = invoke(backup, "--data-dir", str(settings.data_dir), str(target))
            during = len(writer.acked) - len(before)
            writer.stop.set()
            writer.join(30)
            assert writer.error is None, writer.error
            assert "backed up" in output and during > 0, "the backup ran under write load"
            org, auth = api.org, api.auth
    finally:
        container.close()

    restored = make_settings(tmp_path / "restored", "sqlite", secret_key=settings.secret_key)
    invoke(restore, "--data-dir", str(restored.data_dir), str(target))
    again = bootstrap(restored, hasher=FAST_HASHER)
    try:
        with TestClient(create_app(again, run_background=True)) as client:
            reader = Api(client, auth, org)
            logged = {c["id"] for c in reader.log(REPO)}
            for commit_id, path, data in before:
                assert commit_id in logged
                assert reader.read(REPO, path, ref=commit_id) == data
            head = reader.log(REPO)[0]["id"]
            assert reader.read(REPO, before[-1][1], ref=head) == before[-1][2]
        settle_views(again)  # every view at the log's head before comparing
        caught_up = (dump_catalog(again), dump_views(again.db))
        again.projections.rebuild([])
        assert (dump_catalog(again), dump_views(again.db)) == caught_up
    finally:
        again.close()


def test_restore_refuses_a_data_directory_that_holds_data(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite")
    bootstrap(settings, hasher=FAST_HASHER).close()
    invoke(backup, "--data-dir", str(settings.data_dir), str(tmp_path / "b"))
    result = CliRunner().invoke(
        restore, ["--data-dir", str(settings.data_dir), str(tmp_path / "b")]
    )
    assert result.exit_code != 0 and "already holds data" in result.output
    into_used = CliRunner().invoke(
        cli, ["backup", "--data-dir", str(settings.data_dir), str(tmp_path / "b")]
    )
    assert into_used.exit_code != 0 and "is not empty" in into_used.output
