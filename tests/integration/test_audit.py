"""The audit trail, on SQLite and PostgreSQL: replaying the log to any moment, the paginated
and filtered `GET …/audit`, and `tilde-server audit ORG --until T --json`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from application.audit import AuditReplay
from application.principal import Principal
from domain.shared.errors import NotFound
from domain.shared.values import stamp
from infra.bootstrap import Container, bootstrap
from interfaces.cli.main import cli
from interfaces.http.app import create_app
from tests.conftest import FAST_HASHER, make_settings
from tests.orgs import (
    API,
    Person,
    add_member,
    add_to_group,
    assert_error,
    attach,
    create_agent,
    create_group,
    create_org,
    create_policy,
    create_principal_key,
    create_role,
    org_not_found,
    person,
)


@dataclass
class History:
    """An organization with a scripted past, and the instants between its steps."""

    org: str
    owner: Person
    alice: Person
    bob: Person
    outsider: Person
    at: dict[str, datetime] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)


def mark(history: History, step: str) -> None:
    time.sleep(0.005)
    history.at[step] = datetime.now(UTC)
    time.sleep(0.005)


def script(client: TestClient[Any], container: Container) -> History:
    owner, alice, bob, outsider = (person(container, n) for n in (None, None, None, None))
    history = History("", owner, alice, bob, outsider)
    mark(history, "before")
    org = history.org = create_org(client, owner)["name"]
    mark(history, "created")
    add_member(client, owner, org, alice)
    mark(history, "alice joined")
    add_member(client, owner, org, bob)
    mark(history, "bob joined")
    eng = create_group(client, owner, org, "eng")
    add_to_group(client, owner, org, eng["id"], "user", alice.id)
    history.ids["ops"] = create_group(client, owner, org, "ops")["id"]
    history.ids["eng"] = eng["id"]
    mark(history, "groups")
    readers = create_policy(client, owner, org, "ListRoles()", "readers")
    attach(client, owner, org, readers["id"], "group", eng["id"])
    attach(client, owner, org, readers["id"], "user", bob.id)
    mark(history, "attached")
    detached = client.delete(
        f"{API}/organizations/{org}/policies/{readers['id']}/attachments",
        params={"principal_type": "user", "principal_id": bob.id},
        headers=owner.auth,
    )
    assert detached.status_code == 204
    mark(history, "detached")
    create_agent(client, alice, org, "a-bot", inline_policy="ListMembers()")
    role = create_role(client, owner, org, "deployer")
    create_principal_key(client, owner, org, "roles", role["name"])
    mark(history, "principals")
    removed = client.delete(f"{API}/organizations/{org}/members/{alice.id}", headers=owner.auth)
    assert removed.status_code == 204
    mark(history, "alice removed")
    deleted = client.delete(f"{API}/organizations/{org}/groups/{eng['id']}", headers=owner.auth)
    assert deleted.status_code == 204
    mark(history, "eng deleted")
    return history


@pytest.fixture
def history(client: TestClient[Any], container: Container) -> History:
    return script(client, container)


def state(report: Any) -> dict[str, Any]:
    """Members, groups and policies as names."""
    return {
        "members": [m["username"] for m in report.members],
        "groups": {g["name"]: g["members"] for g in report.groups},
        "policies": {p["name"]: p["attached_to"] for p in report.policies},
        "roles": report.roles,
        "agents": [(a["name"], a["created_by"]) for a in report.agents],
    }


def expected_states(h: History) -> dict[str, dict[str, Any]]:
    o, a, b = (f"user:{p.username}" for p in (h.owner, h.alice, h.bob))
    builtins = {"AgentManager": [], "Member": [], "Owner": [o]}
    both = sorted([a, b])
    s: dict[str, dict[str, Any]] = {}
    s["created"] = {
        "members": [h.owner.username],
        "groups": {},
        "policies": builtins,
        "roles": [],
        "agents": [],
    }
    s["alice joined"] = {
        **s["created"],
        "members": sorted([h.owner.username, h.alice.username]),
        "policies": {**builtins, "AgentManager": [a], "Member": [a]},
    }
    s["bob joined"] = {
        **s["alice joined"],
        "members": sorted([h.owner.username, h.alice.username, h.bob.username]),
        "policies": {**builtins, "AgentManager": both, "Member": both},
    }
    s["groups"] = {**s["bob joined"], "groups": {"eng": [a], "ops": []}}
    s["attached"] = {
        **s["groups"],
        "policies": {**s["bob joined"]["policies"], "readers": sorted(["group:eng", b])},
    }
    s["detached"] = {
        **s["attached"],
        "policies": {**s["bob joined"]["policies"], "readers": ["group:eng"]},
    }
    s["principals"] = {**s["detached"], "roles": ["deployer"], "agents": [("a-bot", a)]}
    s["alice removed"] = {
        **s["principals"],
        "members": sorted([h.owner.username, h.bob.username]),
        "groups": {"eng": [], "ops": []},
        "policies": {**builtins, "AgentManager": [b], "Member": [b], "readers": ["group:eng"]},
    }
    s["eng deleted"] = {
        **s["alice removed"],
        "groups": {"ops": []},
        "policies": {**s["alice removed"]["policies"], "readers": []},
    }
    return s


def test_replay_shows_the_organization_as_it_stood_at_each_moment(
    history: History, container: Container
) -> None:
    replay = AuditReplay(container.identity, container.organizations)
    for step, want in expected_states(history).items():
        report = replay.replay(history.org, until=history.at[step])
        assert state(report) == want, step
    now = replay.replay(history.org)
    assert state(now) == expected_states(history)["eng deleted"]
    assert now.organization["name"] == history.org and now.organization["deleted"] is False
    with pytest.raises(NotFound):
        replay.replay(history.org, until=history.at["before"])
    with pytest.raises(NotFound):
        replay.replay("no-such-org")


def test_replay_history_says_who_did_what_when(history: History, container: Container) -> None:
    report = AuditReplay(container.identity, container.organizations).replay(history.org)
    lines = [(h["actor"], h["event"]) for h in report.history]
    assert (history.owner.username, "Organization.Created") in lines
    assert (history.alice.username, "Agent.Created") in lines
    assert (history.owner.username, "Organization.MemberRemoved") in lines
    assert (history.owner.username, "Group.Deleted") in lines
    assert (history.owner.username, "ApiKey.Created") in lines  # the role's key
    assert [h["at"] for h in report.history] == sorted(h["at"] for h in report.history)
    removal = next(h for h in report.history if h["event"] == "Organization.MemberRemoved")
    assert removal["data"] == {"user_id": history.alice.id}
    assert removal["at"] < stamp(history.at["alice removed"])
    # Deleting the organization keeps its history readable by name.
    owner = Principal("user", history.owner.id, history.owner.username, "bearer")
    container.organizations.delete_organization(history.org, owner, repositories=[])
    gone = AuditReplay(container.identity, container.organizations).replay(history.org)
    assert gone.organization["deleted"] is True
    assert state(gone)["members"] == state(report)["members"]


def audit(client: TestClient[Any], who: Person, org: str, **params: Any) -> Any:
    return client.get(f"{API}/organizations/{org}/audit", params=params, headers=who.auth)


def all_entries(client: TestClient[Any], who: Person, org: str, **params: Any) -> list[Any]:
    response = audit(client, who, org, amount=1000, **params)
    assert response.status_code == 200, response.text
    assert response.json()["pagination"]["has_more"] is False
    return response.json()["results"]  # type: ignore[no-any-return]


def test_the_audit_log_paginates_and_filters(
    history: History, client: TestClient[Any], container: Container
) -> None:
    owner, org = history.owner, history.org
    everything = all_entries(client, owner, org)
    assert len(everything) > 12
    entry = everything[0]
    assert set(entry) == {
        "id",
        "occurred_at",
        "actor_type",
        "actor_id",
        "actor_name",
        "event_type",
        "resource_type",
        "resource_id",
        "data",
        "cursor",
    }
    assert (entry["event_type"], entry["actor_name"]) == ("Organization.Created", owner.username)
    assert [e["occurred_at"] for e in everything] == sorted(e["occurred_at"] for e in everything)
    replayed = AuditReplay(container.identity, container.organizations).replay(org).history
    assert sorted((e["resource_id"], e["event_type"]) for e in everything) == sorted(
        (h["resource_id"], h["event"]) for h in replayed
    )

    pages, after = [], None
    while True:
        params: dict[str, Any] = {"amount": 3, **({"after": after} if after else {})}
        page = audit(client, owner, org, **params).json()
        assert len(page["results"]) <= 3
        pages.append(page["results"])
        if not page["pagination"]["has_more"]:
            break
        after = page["pagination"]["next_offset"]
        assert after == page["results"][-1]["cursor"]
    assert [e for p in pages for e in p] == everything
    assert len(pages) == -(-len(everything) // 3)
    assert_error(audit(client, owner, org, after="garbage"), 400)
    assert_error(audit(client, owner, org, since="yesterday"), 400)

    since, until = stamp(history.at["groups"]), stamp(history.at["detached"])
    window = all_entries(client, owner, org, since=since, until=until)
    assert window and all(since <= e["occurred_at"] <= until for e in window)
    assert {e["event_type"] for e in window} == {
        "Policy.Created",
        "Policy.Attached",
        "Policy.Detached",
    }
    assert window == [e for e in everything if since <= e["occurred_at"] <= until]

    by_alice = all_entries(client, owner, org, principal=history.alice.id)
    assert [e["event_type"] for e in by_alice] == ["Agent.Created"]
    assert all_entries(client, owner, org, principal=f"user:{history.alice.id}") == by_alice
    assert all_entries(client, owner, org, principal=f"role:{history.alice.id}") == []
    joined = all_entries(client, owner, org, event_type="MemberAdded")
    assert {e["event_type"] for e in joined} == {"Organization.MemberAdded", "Group.MemberAdded"}
    exact = all_entries(client, owner, org, event_type="Organization.MemberAdded")
    assert [e["data"]["user_id"] for e in exact] == [owner.id, history.alice.id, history.bob.id]


def test_the_audit_log_is_for_owners_only(history: History, client: TestClient[Any]) -> None:
    assert_error(audit(client, history.bob, history.org), 403, "FORBIDDEN")
    org_not_found(audit(client, history.outsider, history.org), history.org)
    org_not_found(audit(client, history.alice, history.org), history.org)  # she left
    assert_error(client.get(f"{API}/organizations/{history.org}/audit"), 401)


@pytest.fixture
def sqlite_history(tmp_path: Path) -> Iterator[tuple[History, Container]]:
    """The scripted history in a SQLite data directory (the CLI opens it with --data-dir)."""
    container = bootstrap(make_settings(tmp_path, "sqlite"), hasher=FAST_HASHER)
    try:
        app = create_app(container, run_background=True)
        with TestClient(app, base_url="http://testserver.local") as client:
            yield script(client, container), container
    finally:
        container.close()


def test_the_cli_prints_the_same_state(sqlite_history: tuple[History, Container]) -> None:
    history, container = sqlite_history
    replay = AuditReplay(container.identity, container.organizations)
    runner = CliRunner()
    for step in ("bob joined", "attached", "alice removed", "eng deleted"):
        until = stamp(history.at[step])
        result = runner.invoke(
            cli,
            [
                "audit",
                "--data-dir",
                str(container.settings.data_dir),
                history.org,
                "--until",
                until,
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        printed = json.loads(result.output)
        report = replay.replay(history.org, until=history.at[step])
        for part in ("members", "groups", "policies", "roles", "agents", "organization"):
            assert printed[part] == getattr(report, part), (step, part)
        assert len(printed["history"]) == len(report.history)
    text = runner.invoke(
        cli, ["audit", "--data-dir", str(container.settings.data_dir), history.org, "--no-history"]
    )
    assert text.exit_code == 0, text.output
    assert "groups (1):" in text.output and "ops" in text.output
    bad = runner.invoke(
        cli, ["audit", "--data-dir", str(container.settings.data_dir), history.org, "--until", "x"]
    )
    assert bad.exit_code != 0
