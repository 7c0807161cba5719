"""A human reviews an agent's commit in a real browser (headless Chromium via Playwright):
the 202's web_url → console sign-in → the review page → approve (or roll back)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from infra.bootstrap import Container, bootstrap
from tests import services
from tests.builders import PASSWORD
from tests.catalog_api import API, Api, agent_api, check
from tests.conftest import FAST_HASHER, LiveServer, bearer, create_key, create_user, make_settings

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
COMMIT_ID = re.compile(r"\b[0-9a-f]{64}\b")


class PinnedLiveServer(LiveServer):
    """LiveServer on the port the settings name, so the server's absolute URLs (the 202's
    web_url, upload URLs) point at it."""

    def __init__(self, container: Container) -> None:
        super().__init__(container)
        self.port = container.settings.port
        self.url = container.settings.base_url
        self.server.config.port = self.port


@dataclass
class Stage:
    container: Container
    server: LiveServer
    owner: dict[str, Any]
    owner_api: Api
    agent: Api


@pytest.fixture
def stage(tmp_path: Path) -> Iterator[Stage]:
    """SQLite server with an owner, an organization, a repository whose agent commits need
    approval, and an agent allowed to stage and commit there."""
    settings = make_settings(tmp_path, "sqlite", port=services.free_port(), gc_interval_seconds=0)
    container = bootstrap(settings, hasher=FAST_HASHER)
    try:
        with (
            PinnedLiveServer(container) as server,
            httpx.Client(base_url=server.url, timeout=30) as http,
        ):
            owner = create_user(container)
            auth = bearer(create_key(container, owner))
            org = f"review-{owner['username']}"
            created = http.post(
                f"{API}/organizations", json={"name": org, "display_name": "Review"}, headers=auth
            )
            check(created, 200, 201)
            owner_api = Api(http, auth, org)
            owner_api.create_repository("reviewed", agents_require_approval=True)
            sid = owner_api.open_session("reviewed")
            owner_api.upload("reviewed", sid, "docs/readme.md", b"# reviewed\n")
            owner_api.commit_ok("reviewed", sid, "the owner's own commit needs no review")
            yield Stage(container, server, owner, owner_api, agent_api(owner_api, "reviewed"))
    finally:
        container.close()


def pending_commit(
    stage: Stage, path: str, data: bytes, also: dict[str, bytes] | None = None
) -> tuple[str, str]:
    """The agent stages `path` (and `also`) and commits: 202 with the review page's web_url."""
    agent = stage.agent
    sid = agent.open_session("reviewed")
    agent.upload("reviewed", sid, path, data, content_type="text/csv")
    for other, content in (also or {}).items():
        agent.upload("reviewed", sid, other, content)
    answer = check(agent.commit("reviewed", sid, f"agent adds {path}"), 202).json()
    assert answer["approval_required"] is True and answer["session_id"] == sid
    web_url = answer["web_url"]
    assert web_url.startswith(f"{stage.server.url}/console/organizations/"), web_url
    assert web_url.endswith(f"/repositories/reviewed/sessions/{sid}/approve")
    assert stage.owner_api.pending("reviewed", sid) == 200
    return sid, web_url


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.fail(f"Chromium is required at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh profile for this test
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            context.set_default_timeout(15_000)
            yield context.new_page()
        finally:
            context.close()


def test_an_owner_approves_and_rejects_agent_commits_in_the_browser(
    stage: Stage, page: Page, tmp_path: Path
) -> None:
    data, readme = b"id,value\n1,42\n", b"# reviewed, by an agent\n"
    sid, web_url = pending_commit(stage, "data/report.csv", data, {"docs/readme.md": readme})
    # The agent can neither approve its own commit nor read it at the head yet.
    refused = stage.agent.call("POST", f"{stage.agent.repo_url('reviewed')}/sessions/{sid}/approve")
    assert refused.status_code == 403, refused.text
    assert stage.owner_api.get_object("reviewed", "data/report.csv").status_code == 404

    page.goto(web_url)
    assert "/console/login" in page.url, page.url
    page.fill("#login", stage.owner["username"])
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("#sign-in")
    assert page.url == web_url, page.url
    changes = page.inner_text("#changes")
    assert "data/report.csv" in changes and "added" in changes, changes
    assert str(len(data)) in changes
    rows = page.locator("#changes tr.change")
    assert rows.count() == 2
    assert rows.nth(1).inner_text().split("\t")[:2] == ["modified", "docs/readme.md"]
    page.fill("#commit-message", "reviewed by a human")
    page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
    with page.expect_navigation():
        page.click("#approve")
    message = page.inner_text("#message")
    page.screenshot(path=str(tmp_path / "approved.png"), full_page=True)
    found = COMMIT_ID.search(message)
    assert found and message.startswith("Approved."), message
    commit_id = found.group(0)

    owner = stage.owner_api
    log = owner.log("reviewed")
    assert log[0]["id"] == commit_id
    assert log[0]["message"] == "reviewed by a human"
    assert log[0]["committer_type"] == "agent"
    assert log[0]["metadata"]["approved_by"] == stage.owner["username"]
    assert log[0]["metadata"]["approved_by_type"] == "user"
    assert log[0]["metadata"]["approved_by_id"] == stage.owner["id"]
    assert owner.pending("reviewed", sid) == 404
    assert owner.read("reviewed", "data/report.csv") == data
    assert owner.read("reviewed", "data/report.csv", ref=commit_id) == data
    assert owner.read("reviewed", "docs/readme.md") == readme

    # A second pending commit is rejected on the same page; nothing lands.
    second, web_url = pending_commit(stage, "data/second.csv", b"id\n7\n")
    page.goto(web_url)
    assert page.url == web_url, page.url  # still signed in: straight to the review
    assert "data/second.csv" in page.inner_text("#changes")
    with page.expect_navigation():
        page.click("#rollback")
    message = page.inner_text("#message")
    page.screenshot(path=str(tmp_path / "rolled-back.png"), full_page=True)
    assert "rolled back" in message, message
    assert owner.pending("reviewed", second) == 404
    assert owner.log("reviewed")[0]["id"] == commit_id
    assert owner.list_paths("reviewed") == ["data/report.csv", "docs/readme.md"]
    assert stage.agent.commit("reviewed", second, "again").status_code == 404
    # The review page now says there is nothing to approve.
    page.goto(web_url)
    assert "Nothing to approve" in page.content()
