"""Human approval of agent commits over raw HTTP, as COMPAT §3/§4 and the reference
describe it: the 202 answer, polling, review, approve, roll back, and repositories
without the flag.

Every test runs on SQLite and on PostgreSQL (the `backend` fixture) with the local blob
store, through the in-process TestClient."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from application.principal import Principal
from infra.bootstrap import Container
from tests.builders import name
from tests.catalog_helpers import (
    AGENT_POLICY,
    Repo,
    create_repository,
    md5,
    repo_base,
)
from tests.conftest import bearer
from tests.orgs import (
    assert_error,
    create_agent,
    create_org,
    create_principal_key,
    person,
)

RESULT = b'{"ok": true}'


def test_agent_commits_wait_for_human_approval(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org = create_org(client, owner)["name"]
    repo_name = create_repository(client, owner, org, agents_require_approval=True)["name"]
    assert client.get(repo_base(org, repo_name), headers=owner.auth).json()[
        "agents_require_approval"
    ]
    agent = create_agent(client, owner, org, name("bot-"), inline_policy=AGENT_POLICY)
    agent_auth = bearer(create_principal_key(client, owner, org, "agents", agent["name"])["token"])
    as_owner = Repo(client, owner, org, repo_name)
    seed = as_owner.write({"seed.txt": b"seed"}, "seed")

    as_agent = Repo(client, owner, org, repo_name)
    as_agent.auth = agent_auth
    sid = as_agent.open_session()
    as_agent.upload(sid, "out/result.json", RESULT)
    pending = as_agent.commit(sid, "agent results", metadata={"run": "42"})
    assert pending.status_code == 202, pending.text
    body = pending.json()
    tail = f"organizations/{org}/repositories/{repo_name}/sessions/{sid}/approve"
    assert body == {
        "approval_required": True,
        "session_id": sid,
        "message": "this commit requires human approval before it can be applied",
        "api_url": f"/api/v1/{tail}",
        "web_url": f"{container.settings.base_url}/console/{tail}",
    }
    assert body["web_url"].startswith(("http://", "https://"))

    approve_url = f"{repo_base(org, repo_name)}/sessions/{sid}/approve"
    assert client.head(approve_url, headers=agent_auth).status_code == 200  # the SDK polls
    assert client.head(approve_url, headers=owner.auth).status_code == 200
    review = client.get(approve_url, headers=owner.auth)
    assert review.status_code == 200, review.text
    (entry,) = review.json()["results"]
    assert entry["path"] == "out/result.json" and entry["diff_type"] == "added"
    assert entry["entry"]["e_tag"] == f'"{md5(RESULT)}"'
    # Nothing landed yet; the pending session takes no more commits or uploads.
    assert_error(as_owner.get("out/result.json"), 404)
    assert as_owner.log()["results"][0]["id"] == seed
    assert_error(as_agent.commit(sid, "again"), 409)
    assert_error(
        client.put(
            f"{as_agent.base}/object",
            params={"session_id": sid, "path": "more.txt"},
            headers=agent_auth,
        ),
        409,
    )
    # Agents cannot approve.
    assert_error(client.post(approve_url, json={"message": "self"}, headers=agent_auth), 403)

    approved = client.post(approve_url, json={"message": "approved results"}, headers=owner.auth)
    assert approved.status_code == 200, approved.text
    assert set(approved.json()) == {"commit_id"}
    info = as_owner.commit_info(approved.json()["commit_id"])
    assert info["metadata"]["approved_by"] == owner.username
    assert info["metadata"]["approved_by_type"] == "user"
    assert info["metadata"]["approved_by_id"] == owner.id
    assert info["metadata"]["run"] == "42"
    assert info["committer_type"] == "agent" and info["parents"] == [seed]
    assert as_owner.read("out/result.json") == RESULT
    assert client.head(approve_url, headers=agent_auth).status_code == 404
    assert_error(client.post(approve_url, json={"message": "twice"}, headers=owner.auth), 404)

    # A second pending session, rolled back by the owner: HEAD → 404, nothing lands.
    sid2 = as_agent.open_session()
    as_agent.upload(sid2, "out/second.json", b"{}")
    assert as_agent.commit(sid2, "second").status_code == 202
    second_url = f"{repo_base(org, repo_name)}/sessions/{sid2}/approve"
    assert client.head(second_url, headers=agent_auth).status_code == 200
    assert as_owner.rollback(sid2).status_code == 204
    assert client.head(second_url, headers=agent_auth).status_code == 404
    assert_error(client.post(second_url, json={"message": "late"}, headers=owner.auth), 404)
    assert_error(as_owner.get("out/second.json"), 404)
    # Approving over a path a later commit changed: 409, still pending, still roll-back-able.
    sid3 = as_agent.open_session()
    as_agent.upload(sid3, "contested.txt", b"agent's")
    assert as_agent.commit(sid3, "contested").status_code == 202
    as_owner.write({"contested.txt": b"human's"}, "human first")
    third_url = f"{repo_base(org, repo_name)}/sessions/{sid3}/approve"
    contested = client.post(third_url, json={"message": "late"}, headers=owner.auth)
    assert "contested.txt" in assert_error(contested, 409, "CONFLICT")["message"]
    assert client.head(third_url, headers=agent_auth).status_code == 200
    assert as_owner.rollback(sid3).status_code == 204
    assert client.head(third_url, headers=agent_auth).status_code == 404
    assert as_owner.read("contested.txt") == b"human's"
    # An agent with nothing staged gets a 400, not an approval request.
    empty = as_agent.open_session()
    assert_error(as_agent.commit(empty, "nothing"), 400)
    # Humans commit directly even when agents need approval.
    direct = as_owner.open_session()
    as_owner.upload(direct, "human.txt", b"h")
    assert as_owner.commit(direct, "by hand").status_code == 200


def test_a_repository_without_the_flag_takes_agent_commits_directly(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org = create_org(client, owner)["name"]
    repo_name = create_repository(client, owner, org)["name"]
    agent = create_agent(client, owner, org, name("bot-"), inline_policy=AGENT_POLICY)
    as_agent = Repo(client, owner, org, repo_name)
    as_agent.auth = bearer(
        create_principal_key(client, owner, org, "agents", agent["name"])["token"]
    )
    sid = as_agent.open_session()
    as_agent.upload(sid, "a.txt", b"a")
    commit_id = as_agent.commit_ok(sid, "direct")
    info = as_agent.commit_info(commit_id)
    assert info["committer_type"] == "agent" and "approved_by" not in info["metadata"]


def test_an_agent_that_may_commit_may_poll_its_pending_approval(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org = create_org(client, owner)["name"]
    repo_name = create_repository(client, owner, org, agents_require_approval=True)["name"]
    documented = "\n".join(
        f'{statement}(repository="{repo_name}"{extra})'
        for statement, extra in (
            ("ListObjects", ""),
            ("GetObject", ""),
            ("CreateSession", ""),
            ("PutObject", ', path="predictions/*"'),
            ("CommitSession", ""),
        )
    )
    agent = create_agent(client, owner, org, name("bot-"), inline_policy=documented)
    as_agent = Repo(client, owner, org, repo_name)
    as_agent.auth = bearer(
        create_principal_key(client, owner, org, "agents", agent["name"])["token"]
    )
    sid = as_agent.open_session()
    as_agent.upload(sid, "predictions/p.json", b"{}")
    assert as_agent.commit(sid, "predictions").status_code == 202
    polled = client.head(f"{as_agent.base}/sessions/{sid}/approve", headers=as_agent.auth)
    assert polled.status_code == 200, polled.status_code  # what the SDK's poll needs


def test_an_approval_that_loses_to_a_rollback_answers_404(
    client: TestClient[Any], container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The approve reads the session (still pending), then its staged rows: a rollback that
    # lands between the two reads empties them. That is a closed session, not an empty one.
    owner = person(container)
    org = create_org(client, owner)["name"]
    repo_name = create_repository(client, owner, org, agents_require_approval=True)["name"]
    agent = create_agent(client, owner, org, name("bot-"), inline_policy=AGENT_POLICY)
    as_agent = Repo(client, owner, org, repo_name)
    as_agent.auth = bearer(
        create_principal_key(client, owner, org, "agents", agent["name"])["token"]
    )
    sid = as_agent.open_session()
    as_agent.upload(sid, "out/result.json", RESULT)
    assert as_agent.commit(sid, "results").status_code == 202

    catalog = container.catalog
    read_staged = catalog.reads.staged_changes
    rolled_back: list[str] = []

    def rollback_first(session_id: str) -> list[dict[str, Any]]:
        if not rolled_back:
            rolled_back.append(session_id)
            org_id = container.resolve_organization(org)
            who = Principal("user", owner.id, owner.username, "bearer")
            container.wait_for(catalog.rollback(org_id, repo_name, session_id, who).written)
        return read_staged(session_id)

    monkeypatch.setattr(catalog.reads, "staged_changes", rollback_first)
    approve_url = f"{repo_base(org, repo_name)}/sessions/{sid}/approve"
    lost = client.post(approve_url, json={"message": "too late"}, headers=owner.auth)
    assert rolled_back == [sid]
    assert_error(lost, 404, "NOT_FOUND")
    assert client.head(approve_url, headers=owner.auth).status_code == 404
    assert_error(Repo(client, owner, org, repo_name).get("out/result.json"), 404)
