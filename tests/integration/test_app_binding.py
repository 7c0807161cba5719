"""One built app bound to one container after another (`build_app` + `bind_app`, how the
suite lends apps: `tests/apps.py`) serves each container as a freshly created app would:
nothing of the first container (keys, repositories, background workers, the fast paths'
state) is left behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar.testing import TestClient

from infra.bootstrap import bootstrap
from interfaces.http.app import bind_app, build_app
from interfaces.http.hot_paths import HotPaths
from tests.catalog_api import API, Api, open_org
from tests.conftest import FAST_HASHER, make_settings

pytestmark = pytest.mark.parametrize("hot_paths", [True, False], ids=["hot", "litestar"])


def commit_one_object(api: Api, data: bytes, message: str) -> None:
    """Repository `data` with `a.txt` = `data`, committed (the fast paths' three requests and
    the 307 read among them), read back."""
    api.create_repository("data")
    session = api.open_session("data")
    api.upload("data", session, "a.txt", data)
    api.commit_ok("data", session, message)
    assert api.read("data", "a.txt") == data
    assert api.log("data")[0]["message"] == message


def test_an_app_bound_again_serves_only_its_new_container(tmp_path: Path, hot_paths: bool) -> None:
    first = bootstrap(make_settings(tmp_path / "first", "sqlite"), hasher=FAST_HASHER)
    second = bootstrap(make_settings(tmp_path / "second", "sqlite"), hasher=FAST_HASHER)
    app = build_app()
    try:
        bind_app(app, first, run_background=True, hot_paths=hot_paths)
        assert isinstance(app.inner, HotPaths) == hot_paths
        with TestClient(app, base_url="http://testserver.local") as client:
            assert first.background
            api = open_org(client, first)
            commit_one_object(api, b"first", "one")
        assert not first.background  # the lifespan's end stopped them
        first_api = api

        bind_app(app, second, run_background=True, hot_paths=hot_paths)
        with TestClient(app, base_url="http://testserver.local") as client:
            assert second.background and not first.background
            # The first container's key and organization mean nothing here.
            first_api.http = client
            refused = first_api.call("GET", f"{API}/organizations/{first_api.org}/repositories")
            assert refused.status_code == 401, refused.text
            commit_one_object(open_org(client, second), b"second", "two")
        # And the first container, served again, still has only its own object.
        assert not second.background
        bind_app(app, first, run_background=True, hot_paths=hot_paths)
        with TestClient(app, base_url="http://testserver.local") as client:
            first_api.http = client
            assert first_api.read("data", "a.txt") == b"first"
            assert first_api.log("data")[0]["message"] == "one"
    finally:
        first.close()
        second.close()
