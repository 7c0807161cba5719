"""The rebuild-equals-incremental property of the secrets metadata view, on SQLite and
PostgreSQL: random histories of puts, updates, deletes and re-creates over repositories and
agents, folded incrementally, equal the same view rebuilt from position 0 row for row."""

from __future__ import annotations

import random

import pytest

from application.principal import Principal
from application.secrets.app import SecretsApplication
from domain.shared.errors import NotFound
from infra.bootstrap import Container

PEOPLE = [
    Principal(type="user", id="u-1", name="alice", via="bearer"),
    Principal(type="role", id="r-1", name="ci", via="bearer"),
    Principal(type="agent", id="a-9", name="bot", via="bearer"),
]
SCOPES = [("repository", "repo-1"), ("repository", "repo-2"), ("agent", "agent-1")]
KEYS = ["API_KEY", "DB_HOST", "OPENAI_KEY", "_X"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rebuilt_view_equals_the_incremental_one(container: Container, seed: int) -> None:
    rng = random.Random(seed)
    app = container.service("secrets", SecretsApplication)
    container.start_background()
    live: dict[tuple[str, str, str, str], str] = {}
    last = None
    for step in range(120):
        org = rng.choice(["org-1", "org-2"])
        scope, scope_id = rng.choice(SCOPES)
        key = rng.choice(KEYS)
        who = rng.choice(PEOPLE)
        if rng.random() < 0.3:
            try:
                last = app.delete_secret(org, scope, scope_id, key, who)
                live.pop((org, scope, scope_id, key))
            except NotFound:
                assert (org, scope, scope_id, key) not in live
        else:
            value = f"v{step}"
            last = app.put_secret(org, scope, scope_id, key, value, who)
            live[(org, scope, scope_id, key)] = value
    assert last is not None and container.wait_for(last.written, timeout=30)
    query = "SELECT * FROM secrets ORDER BY id"
    incremental = container.db.query(query)
    shown = {
        (r["organization_id"], r["scope"], r["scope_id"], r["key"])
        for r in incremental
        if not r["deleted"]
    }
    assert shown == set(live)
    for (org, scope, scope_id, key), value in live.items():
        assert app.read_secret(org, scope, scope_id, key) == value
    container.projections.rebuild(["secrets"])
    assert container.db.query(query) == incremental
