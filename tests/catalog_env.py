"""A catalog on a movable clock and the stores behind it: shared by the GC, rebuild and
crash tests.

`environment` runs a container on a controllable clock behind a TestClient (`Env`); the
dump helpers snapshot the inline catalog tables and the blob store for rebuild comparisons;
`LoggedServer` runs a real server process whose output is kept.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from litestar.testing import TestClient

from application.catalog import GcReport
from domain.shared.values import utcnow
from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from projections.catalog.catalog import CatalogView
from tests.apps import lent_app
from tests.catalog_api import Api, open_org
from tests.conftest import FAST_HASHER, ServerProcess

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Env:
    """A container on a movable clock, its API, and the instant the test started."""

    container: Container
    api: Api
    now: list[datetime]
    start: datetime

    def at(self, when: datetime) -> None:
        self.now[0] = when

    def collect(self, when: datetime) -> GcReport:
        self.at(when)
        return self.container.catalog.collect()

    def repo_id(self, repo: str) -> str:
        return str(self.container.catalog.get_repository(self.api_org_id(), repo).id)

    def api_org_id(self) -> str:
        return self.container.resolve_organization(self.api.org)

    def addresses_by_content(self, repo_id: str) -> dict[bytes, str]:
        """Every stored blob of a repository by its (unique) bytes."""
        found = {}
        for address in blob_addresses(self.container, repo_id):
            found[read_blob(self.container, address)] = address
        return found

    def referenced(self) -> set[str]:
        rows = self.container.catalog_db.query(
            "SELECT address FROM catalog_entries UNION SELECT address FROM catalog_staged"
        )
        return {r["address"] for r in rows if r["address"]}


@contextmanager
def environment(settings: Settings, reuse: Api | None = None) -> Iterator[Env]:
    """A container on a movable clock behind a TestClient; a fresh owner and organization
    unless `reuse` names the ones of an earlier environment on the same store."""
    start = utcnow()
    now = [start]
    settings = settings.model_copy(update={"gc_interval_seconds": 0})
    container = bootstrap(settings, clock=lambda: now[0], hasher=FAST_HASHER)
    try:
        with (
            lent_app(container) as app,
            TestClient(app, base_url="http://testserver.local") as client,
        ):
            api = Api(client, reuse.auth, reuse.org) if reuse else open_org(client, container)
            if settings.blob_store == "s3":
                api.blob_http = httpx.Client(timeout=30)
            try:
                yield Env(container, api, now, start)
            finally:
                if api.blob_http is not None:
                    api.blob_http.close()
    finally:
        container.close()


# -- snapshots of the inline catalog ------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    return value


def dump_catalog(container: Container) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every inline catalog table, normalised and sorted."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in CatalogView.tables:
        rows = container.catalog_db.query(f"SELECT * FROM {table}")
        out[table] = sorted(
            (tuple(sorted((k, _plain(v)) for k, v in row.items())) for row in rows),
            key=lambda r: json.dumps(r, default=str),
        )
    return out


def commit_ids(container: Container) -> list[tuple[str, int, str]]:
    rows = container.catalog_db.query("SELECT repository_id, seq, id FROM catalog_commits")
    return sorted((r["repository_id"], int(r["seq"]), r["id"]) for r in rows)


def blob_addresses(container: Container, repository_id: str = "") -> set[str]:
    prefix = f"{repository_id}/" if repository_id else ""
    return {a for a, _ in container.blobs.list_addresses(prefix)}


def read_blob(container: Container, address: str) -> bytes:
    with container.blobs.open(address) as stream:
        return stream.read()


class LoggedServer(ServerProcess):
    """`tilde-server serve` in a child process whose output goes to a file, so a failed
    (re)start says why."""

    def start(self) -> LoggedServer:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.settings.data_dir.parent / f"server-{self.port}.log"
        with log.open("ab") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "interfaces.cli.main", "serve", "--port", str(self.port)],
                env=self.env(),
                stdout=sink,
                stderr=sink,
                cwd=str(ROOT),
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        output = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"server did not become healthy (exit {self.proc.poll()}):\n{output}")
