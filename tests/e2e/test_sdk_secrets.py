"""The official SDK's `repo.secrets` and `agent.secrets` (tilde-sdk 0.7.9) against a live
server, unmodified, on SQLite and PostgreSQL: create/update, list (metadata, the value fetched
lazily), get, delete, listing after delete, re-create, and the permission errors of a
principal that may manage but not read."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import tilde
from tilde.exceptions import BadRequestError, ForbiddenError, NotFoundError

from infra.bootstrap import Container
from tests.builders import name
from tests.conftest import LiveServer
from tests.orgs import person

pytestmark = pytest.mark.e2e
MakeClient = Callable[[str], tilde.Client]


@pytest.fixture
def sdk(live_server: LiveServer) -> Iterator[MakeClient]:
    clients: list[tilde.Client] = []

    def make(token: str) -> tilde.Client:
        client = tilde.Client(endpoint_url=live_server.url, api_key=token)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_repository_secrets_through_the_sdk(container: Container, sdk: MakeClient) -> None:
    owner = person(container)
    client = sdk(owner.token)
    org = client.organizations.create(name("sec"), "Secrets")
    org.repositories.create(name("r-"))
    (repo_entry,) = list(org.repositories.list())
    repo = client.repository(f"{org.name}/{repo_entry.name}")
    created = repo.secrets.create("API_KEY", "repo-key")
    assert (created.name, created.value) == ("API_KEY", "repo-key")
    repo.secrets.create("DB_HOST", "prod.db.example.com")
    repo.secrets.create("API_KEY", "rotated")  # an update
    listed = list(repo.secrets.list())
    assert [s.name for s in listed] == ["API_KEY", "DB_HOST"]
    first = listed[0]
    assert first.created_by_type == "user" and first.created_by == owner.id
    assert first.created_at is not None and first.updated_at >= first.created_at
    assert first.value == "rotated"  # fetched lazily through GET …/{key}
    assert repo.secrets.get("DB_HOST").value == "prod.db.example.com"
    repo.secrets.delete("API_KEY")
    assert [s.name for s in repo.secrets.list()] == ["DB_HOST"]
    with pytest.raises(NotFoundError):
        repo.secrets.get("API_KEY")
    with pytest.raises(NotFoundError):
        repo.secrets.delete("API_KEY")
    repo.secrets.create("API_KEY", "back")
    assert repo.secrets.get("API_KEY").value == "back"
    with pytest.raises(BadRequestError):
        repo.secrets.create("not a key", "v")
    with pytest.raises(BadRequestError):
        repo.secrets.create("EMPTY", "")

    # A member who may manage secrets but not read them.
    manager = person(container)
    org.members.create(manager.username)
    policy = org.policies.create(name("p-"), "ManageRepositorySecrets()\n", description="m")
    policy.attach(principal_type="user", principal_id=manager.id)
    as_manager = sdk(manager.token).repository(f"{org.name}/{repo_entry.name}")
    as_manager.secrets.create("CI_TOKEN", "from-the-manager")
    names = [s.name for s in as_manager.secrets.list()]
    assert names == ["API_KEY", "CI_TOKEN", "DB_HOST"]
    with pytest.raises(ForbiddenError, match="ReadRepositorySecrets"):
        as_manager.secrets.get("CI_TOKEN")
    listed_entry = next(iter(as_manager.secrets.list()))
    with pytest.raises(ForbiddenError):
        _ = listed_entry.value
    as_manager.secrets.delete("CI_TOKEN")
    assert repo.secrets.get("DB_HOST").value == "prod.db.example.com"


def test_agent_secrets_through_the_sdk(container: Container, sdk: MakeClient) -> None:
    owner = person(container)
    client = sdk(owner.token)
    org = client.organizations.create(name("sec"), "Secrets")
    creator = person(container)
    org.members.create(creator.username)  # Member + AgentManager
    as_creator = sdk(creator.token).organizations.get(org.name)
    agent = as_creator.agents.create(name("agent-"), description="data pipeline")
    agent.secrets.create("OPENAI_KEY", "sk-abc")
    agent.secrets.create("API_KEY", "agent-key")
    assert [s.name for s in agent.secrets.list()] == ["API_KEY", "OPENAI_KEY"]
    assert agent.secrets.get("OPENAI_KEY").value == "sk-abc"
    agent.secrets.delete("API_KEY")
    assert [s.name for s in agent.secrets.list()] == ["OPENAI_KEY"]
    with pytest.raises(NotFoundError):
        agent.secrets.get("API_KEY")
    # The organization's owner may too; another member does not own the agent.
    assert (
        client.organizations.get(org.name).agents.get(agent.name).secrets.get("OPENAI_KEY").value
        == "sk-abc"
    )
    stranger = person(container)
    org.members.create(stranger.username)
    theirs = sdk(stranger.token).organizations.get(org.name).agents.get(agent.name)
    with pytest.raises(ForbiddenError):
        list(theirs.secrets.list())
    with pytest.raises(ForbiddenError):
        theirs.secrets.get("OPENAI_KEY")
    with pytest.raises(ForbiddenError):
        theirs.secrets.create("X", "y")
