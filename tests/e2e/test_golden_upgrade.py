"""Upgrade safety: a data directory written by v1 (tests/golden/v1, from make_golden.py) opens,
replays, rebuilds every view and serves the same history through the official SDK.

A failure here means an event schema change broke the log: add an upcaster (the library's
class-version `upcast_vX_vY`), never regenerate the golden directory to make it pass."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import tilde
from click.testing import CliRunner

from infra.bootstrap import Container, bootstrap
from interfaces.cli.backup import restore
from tests.catalog_env import dump_catalog
from tests.catalog_helpers import serve, served_settings
from tests.conftest import FAST_HASHER
from tests.golden.make_golden import FILES

pytestmark = pytest.mark.e2e
GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "v1"


@dataclass
class Golden:
    """The restored v1 directory served live, and what make_golden recorded."""

    facts: dict[str, Any]
    container: Container
    url: str

    def read(self, path: str, *, ref: str, status: int = 200) -> bytes:
        """An object's bytes at `ref` over plain HTTP (following the 307)."""
        f = self.facts
        url = f"{self.url}/api/v1/organizations/{f['org']}/repositories/{f['repo']}/object"
        auth = {"Authorization": f"Bearer {f['owner']['token']}"}
        response = httpx.get(url, params={"path": path, "ref": ref}, headers=auth)
        assert response.status_code in (307, status), response.text
        if response.status_code != 307:
            return b""
        body = httpx.get(response.headers["location"])
        assert body.status_code == 200
        return body.content

    def sdk(self, who: str = "owner") -> tilde.Client:
        return tilde.Client(endpoint_url=self.url, api_key=self.facts[who]["token"])


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Golden]:
    facts = json.loads((GOLDEN / "golden.json").read_text())
    tmp = tmp_path_factory.mktemp("golden")
    source = tmp / "v1"
    shutil.copytree(GOLDEN, source)  # never touch the committed files
    settings = served_settings(tmp, "sqlite", secret_key=facts["secret_key"])
    restored = CliRunner().invoke(restore, ["--data-dir", str(settings.data_dir), str(source)])
    assert restored.exit_code == 0, restored.output
    container = bootstrap(settings, hasher=FAST_HASHER)
    try:
        with serve(container) as server:
            yield Golden(facts, container, server.url)
    finally:
        container.close()


def test_every_view_rebuilds_from_the_v1_log(golden: Golden) -> None:
    before = dump_catalog(golden.container)  # the catalog tables as v1 wrote them
    reports = golden.container.projections.rebuild([])
    assert {r["projection"] for r in reports} >= {"catalog", "users", "audit"}
    assert dump_catalog(golden.container) == before


def test_users_organization_and_repository_are_served(golden: Golden) -> None:
    facts = golden.facts
    with golden.sdk() as sdk:
        org = sdk.organizations.get(facts["org"])
        assert org.name == facts["org"]
        assert [r.name for r in org.repositories.list()] == [facts["repo"]]
        members = {m.username for m in org.members.list()}
        assert members == {facts["owner"]["username"], facts["member"]["username"]}
    with golden.sdk("member") as sdk:
        assert sdk.organizations.get(facts["org"]).name == facts["org"]


def test_log_objects_and_diff_read_as_v1_wrote_them(golden: Golden) -> None:
    facts = golden.facts
    first, second, third = facts["commits"]
    with golden.sdk() as sdk:
        repo = sdk.repository(f"{facts['org']}/{facts['repo']}")
        log = list(repo.commits.list())
        assert [c.id for c in log] == [third, second, first]
        assert [c.message for c in log][-1] == "first: three files"
        assert repo.commits.get(first).metadata == {"step": "1"}
        assert repo.commits.get(second).parents == [first]

        # The SDK's commit.objects reads the head (COMPAT): older commits go by `ref`.
        for path, data in FILES.items():
            assert golden.read(path, ref=first) == data
        assert golden.read("data/b.bin", ref=second, status=404) == b""
        at_third = repo.commits.get(third).objects
        assert at_third.get("data/a.csv").read() == b"id,value\n1,3\n"
        assert at_third.get("docs/readme.txt").read() == FILES["readme.txt"]
        assert sorted(e.path for e in at_third.list()) == [
            "data/a.csv",
            "docs/readme.txt",
            "readme.txt",
        ]
        changed = {(d.path, d.status) for d in repo.commits.get(second).diff()}
        assert {p for p, _ in changed} == {"data/a.csv", "data/b.bin"}


def test_the_open_session_survives_and_commits(golden: Golden) -> None:
    facts = golden.facts
    with golden.sdk() as sdk:
        repo = sdk.repository(f"{facts['org']}/{facts['repo']}")
        session = repo.attach(facts["open_session"])
        assert [r.path for r in session.uncommitted()] == ["staged/new.txt"]
        assert session.objects.get("staged/new.txt").read() == b"not committed yet\n"
        landed = session.commit("fourth: written after the upgrade")
        assert landed is not None  # None only for a commit awaiting approval
        assert repo.commits.get(landed).parents == [facts["commits"][-1]]
        assert repo.commits.get(landed).objects.get("staged/new.txt").read() == (
            b"not committed yet\n"
        )
