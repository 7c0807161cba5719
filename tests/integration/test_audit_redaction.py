"""One redaction rule: the HTTP audit view, the CLI replay and `events` hide the same fields."""

from __future__ import annotations

import json
from typing import Any

from litestar.testing import TestClient

from application.audit import AuditReplay
from domain.shared.redaction import REDACTED
from infra.bootstrap import Container
from interfaces.cli.events import event_record
from tests.orgs import API, create_org, create_principal_key, create_role, person


def test_http_view_and_cli_replay_redact_alike(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org = create_org(client, owner)["name"]
    role = create_role(client, owner, org, "deployer")
    key = create_principal_key(client, owner, org, "roles", role["name"])
    agent = client.post(
        f"{API}/organizations/{org}/agents",
        json={"name": "bot", "metadata": {"api_token": "tok-123", "team": "ml"}},
        headers=owner.auth,
    )
    assert agent.status_code == 201, agent.text

    page = client.get(
        f"{API}/organizations/{org}/audit", params={"amount": 1000}, headers=owner.auth
    )
    assert page.status_code == 200, page.text
    served = {e["id"]: e["data"] for e in page.json()["results"]}
    replayed = AuditReplay(container.identity, container.organizations).replay(org).history
    assert {f"{h['resource_id']}:{h['version']}": h["data"] for h in replayed} == served

    created = next(h["data"] for h in replayed if h["event"] == "ApiKey.Created")
    assert created["secret_hash"] == REDACTED
    assert created["token_hint"] and created["token_hint"] != REDACTED
    assert key["token"] not in json.dumps(served)
    bot = next(h["data"] for h in replayed if h["event"] == "Agent.Created")
    assert bot["metadata"] == {"api_token": REDACTED, "team": "ml"}
    assert "tok-123" not in json.dumps(served)


def test_the_events_command_uses_the_same_rule(container: Container) -> None:
    owner = person(container)
    stored = container.identity.recorder.select_notifications(start=1, limit=1000)
    events = [container.identity.mapper.to_domain_event(n) for n in stored]
    signed_up = next(e for e in events if type(e).__qualname__ == "User.SignedUp")
    record = event_record("identity", signed_up, None)
    assert record["data"]["password_hash"] == REDACTED
    assert record["data"]["username"] == owner.username
