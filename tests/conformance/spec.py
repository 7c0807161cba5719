"""The official spec, the operations this server implements, and a seeded organization."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from interfaces.http.app import create_app
from tests import services
from tests.catalog_api import Api, check
from tests.catalog_helpers import live_container, served_settings
from tests.conftest import LiveServer, bearer, create_key, create_user
from tests.orgs import create_agent, create_group, create_policy, create_role

ROOT = Path(__file__).resolve().parents[2]
# CI copies shared/ beside the clone, so the official spec sits next to the repository.
SPEC_PATH = ROOT.parent / "shared" / "api" / "openapi.yaml"
API = "/api/v1"


@cache
def implemented_operation_ids() -> frozenset[str]:
    """Every operationId a route of this server declares (spec or not)."""
    with tempfile.TemporaryDirectory() as tmp:
        container = bootstrap(Settings(data_dir=Path(tmp) / "data", log_level="WARNING"))
        try:
            app = create_app(container, run_background=False)
            return frozenset(
                handler.operation_id
                for route in app.routes
                for handler in getattr(route, "route_handlers", [])
                if isinstance(handler.operation_id, str)
            )
        finally:
            container.close()


@dataclass
class Seeded:
    """A live server with an owner's key and one of each resource the paths name."""

    container: Container
    server: LiveServer
    token: str
    org: str
    repo: str
    session_id: str
    commit_id: str
    policy_id: str
    group_id: str
    role: str
    agent: str

    @property
    def base_url(self) -> str:
        return self.server.url + API

    @property
    def path_values(self) -> dict[str, str]:
        """What each path parameter of the spec resolves to in the seeded organization."""
        return {
            "organization": self.org,
            "repository": self.repo,
            "session_id": self.session_id,
            "commit_id": self.commit_id,
            "policy_id": self.policy_id,
            "group_id": self.group_id,
            "role_name": self.role,
            "agent_name": self.agent,
        }


def seed(container: Container, server: LiveServer) -> Seeded:
    """An owner with a key, an organization, a repository with one commit and an open
    session, and a policy, group, role and agent."""
    user = create_user(container)
    token = create_key(container, user)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        api = Api(http, bearer(token), f"seeded-{user['username']}"[:30].rstrip("-"))
        check(
            http.post(
                f"{API}/organizations",
                json={"name": api.org, "display_name": "Seeded"},
                headers=api.auth,
            ),
            201,
        )
        repo = "data"
        api.create_repository(repo)
        first = api.open_session(repo)
        api.upload(repo, first, "docs/readme.txt", b"hello")
        commit_id = api.commit_ok(repo, first, "seed")
        owner: Any = _Owner(api.auth)
        policy = create_policy(http, owner, api.org, 'GetObject(repository="data")')
        group = create_group(http, owner, api.org)
        role = create_role(http, owner, api.org)
        agent = create_agent(http, api.auth, api.org)
        return Seeded(
            container=container,
            server=server,
            token=token,
            org=api.org,
            repo=repo,
            session_id=api.open_session(repo),
            commit_id=commit_id,
            policy_id=policy["id"],
            group_id=group["id"],
            role=role["name"],
            agent=agent["name"],
        )


@dataclass
class _Owner:
    """What the `tests.orgs` builders read from a person: their auth header."""

    auth: dict[str, str]


@contextmanager
def seeded_server(tmp_path: Path, kind: str = "sqlite", **overrides: Any) -> Iterator[Seeded]:
    """A live server on a fresh store of `kind` with a seeded organization (see `seed`)."""
    settings = served_settings(tmp_path, kind, **overrides)
    try:
        with live_container(settings) as (container, server):
            yield seed(container, server)
    finally:
        if settings.is_postgres:
            services.drop_database(settings.database_url)
