"""Stored XSS (security issue #8, finding 3) in a real browser: a user signed in to the console
opens the signed download URL of an uploaded HTML page; its script must not run in the API's
origin, where it could read `tilde_csrf` and mint an API key as that user."""

from __future__ import annotations

# `page` is the console browser test's Chromium fixture, requested by name.
# ruff: noqa: F401, F811
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from infra.bootstrap import Container, bootstrap
from tests import services
from tests.builders import PASSWORD
from tests.catalog_api import API, Api, check
from tests.conftest import FAST_HASHER, bearer, create_key, create_user, make_settings
from tests.e2e.test_console_browser import PinnedLiveServer, page

pytestmark = pytest.mark.e2e

STOLEN = "stolen-by-xss"
# What an attacker uploads: mark the page, the origin's storage, and mint a key as the viewer.
SCRIPT = f"""
document.title = "pwned";
try {{ localStorage.setItem("pwned", "1"); }} catch (e) {{}}
const csrf = (document.cookie.match(/tilde_csrf=([^;]+)/) || [])[1] || "";
fetch("/api/v1/auth/keys", {{
  method: "POST",
  credentials: "include",
  headers: {{"content-type": "application/json", "x-csrf-token": decodeURIComponent(csrf)}},
  body: JSON.stringify({{name: "{STOLEN}"}}),
}});
"""
HTML = f"<!doctype html><html><head><title>report</title></head><script>{SCRIPT}</script></html>"
SVG = f'<svg xmlns="http://www.w3.org/2000/svg"><script>{SCRIPT}</script></svg>'


@dataclass
class Site:
    url: str
    owner: dict[str, Any]
    api: Api


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """A live SQLite server with an owner whose repository holds the attacker's uploads."""
    settings = make_settings(tmp_path, "sqlite", port=services.free_port(), gc_interval_seconds=0)
    container: Container = bootstrap(settings, hasher=FAST_HASHER)
    try:
        with (
            PinnedLiveServer(container) as server,
            httpx.Client(base_url=server.url, timeout=30) as http,
        ):
            owner = create_user(container)
            auth = bearer(create_key(container, owner))
            org = f"xss-{owner['username']}"
            check(
                http.post(
                    f"{API}/organizations", json={"name": org, "display_name": "X"}, headers=auth
                ),
                200,
                201,
            )
            api = Api(http, auth, org)
            api.create_repository("shared")
            sid = api.open_session("shared")
            api.upload("shared", sid, "evil.html", HTML.encode(), content_type="text/html")
            api.upload("shared", sid, "evil.svg", SVG.encode(), content_type="image/svg+xml")
            api.upload("shared", sid, "notes.txt", HTML.encode(), content_type="text/plain")
            api.commit_ok("shared", sid, "uploads")
            yield Site(server.url, owner, api)
    finally:
        container.close()


def download_url(site: Site, path: str) -> str:
    moved = site.api.call("GET", f"{site.api.repo_url('shared')}/object", params={"path": path})
    assert moved.status_code == 307, moved.text
    return str(moved.headers["location"])


def sign_in(site: Site, page: Page) -> None:
    page.goto(f"{site.url}/console/login")
    page.fill("#login", site.owner["username"])
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("#sign-in")
    cookies = {c["name"] for c in page.context.cookies(site.url)}
    assert {"tilde_session", "tilde_csrf"} <= cookies, cookies


def key_names(site: Site) -> list[str]:
    listed = check(site.api.call("GET", f"{API}/auth/keys"), 200).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    return [row["name"] for row in rows]


def test_an_uploaded_page_does_not_run_script_in_the_api_origin(site: Site, page: Page) -> None:
    sign_in(site, page)
    for path, body in (("evil.html", HTML), ("evil.svg", SVG)):
        url = download_url(site, path)
        assert url.startswith(f"{site.url}/_blob/d/")  # the API's own origin
        # The browser saves the page instead of rendering it (Content-Disposition: attachment).
        with page.expect_download() as started:
            try:
                page.goto(url)
            except PlaywrightError as e:  # navigating to a download aborts the navigation
                assert "Download is starting" in str(e) or "ERR_ABORTED" in str(e), e
        saved = started.value.path()
        assert Path(saved).read_text() == body
        assert page.title() != "pwned"

    # A safe-inline type is shown in place as text, sandboxed: no script, no origin access.
    page.goto(download_url(site, "notes.txt"))
    assert "<script>" in page.inner_text("body")
    assert page.title() != "pwned"

    time.sleep(1)  # a fetch the page might have fired would have landed by now
    assert STOLEN not in key_names(site)
    page.goto(f"{site.url}/console/login")
    assert page.evaluate("localStorage.getItem('pwned')") is None
