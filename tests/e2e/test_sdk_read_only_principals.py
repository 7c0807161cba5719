"""The official SDK as a read-only principal, on SQLite and PostgreSQL: a role holding Tilde's
example policy `ListRepositories()\\nGetRepository()\\nGetObject()\\n` (attached directly or
through a group) and an agent whose inline policy is `ListRepositories()\\nGetRepository()\\n`
reach their repositories through `client.organizations.get(org)` and may not write."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
import tilde
from tilde.exceptions import ForbiddenError, NotFoundError

from infra.bootstrap import Container
from tests.builders import name
from tests.conftest import LiveServer, bearer
from tests.orgs import person

pytestmark = pytest.mark.e2e
MakeClient = Callable[[str], tilde.Client]
README_POLICY = "ListRepositories()\nGetRepository()\nGetObject()\n"
AGENT_POLICY = "ListRepositories()\nGetRepository()\n"
CSV = b"id,value\n1,2\n"


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


@dataclass
class Seeded:
    """An organization with two repositories (one commit in the first) and its owner's SDK."""

    org: tilde.resources.organizations.Organization
    repos: list[str]
    commit_id: str


def seed(client: tilde.Client) -> Seeded:
    org = client.organizations.create(name("ro"), "Read-only")
    repos = sorted([name("data-"), name("logs-")])
    for repo in repos:
        org.repositories.create(repo, description=f"{repo} repository")
    first = org.repositories.get(repos[0])
    with first.session() as session:
        session.objects.put("data/a.csv", CSV)
        session.commit("seed")
    (latest,) = list(first.commits.list(amount=1))
    return Seeded(org, repos, latest.id)


def assert_reads_but_never_writes(
    as_principal: tilde.Client, seeded: Seeded, *, reads_objects: bool
) -> None:
    org = as_principal.organizations.get(seeded.org.name)  # 403 before: it needs GetOrganization
    assert org.id == seeded.org.id
    assert [r.name for r in org.repositories.list()] == seeded.repos
    # One repository a page: the SDK follows next_offset and stops on the last page's "".
    assert [r.name for r in org.repositories.list(page_size=1)] == seeded.repos
    repo = org.repositories.get(seeded.repos[0])
    assert repo.description == f"{seeded.repos[0]} repository"  # GetRepository
    if reads_objects:
        # The SDK reads objects through a commit: GetObject() on the whole repository implies it.
        latest = next(iter(repo.commits.list()))
        assert latest.id == seeded.commit_id
        with latest.objects.get("data/a.csv") as reader:
            assert reader.read() == CSV
        assert repo.commits.get(seeded.commit_id).objects.get("data/a.csv").read() == CSV
    else:
        with pytest.raises(ForbiddenError):
            list(repo.commits.list())
        with pytest.raises(ForbiddenError):
            tilde.resources.objects.ReadOnlyObjects(as_principal, seeded.org.name, repo.name).get(
                "data/a.csv"
            ).read()
    with pytest.raises(ForbiddenError):
        repo.session()
    with pytest.raises(ForbiddenError):
        org.repositories.create(name("new-"))
    with pytest.raises(ForbiddenError):
        repo.update(description="changed")
    with pytest.raises(ForbiddenError):
        org.repositories.delete(seeded.repos[1])
    with pytest.raises(ForbiddenError):
        list(org.members.list())  # navigation opens the organization's record, nothing more


def test_a_role_with_the_readme_policy_reads_directly_and_through_a_group(
    sdk: MakeClient, container: Container
) -> None:
    owner = person(container)
    seeded = seed(sdk(owner.token))
    org = seeded.org
    policy = org.policies.create("read-only", README_POLICY, description="Read-only access")
    direct = org.roles.create("reader", description="policy attached to the role")
    policy.attach(principal_type="role", principal_id=direct.id)
    grouped = org.roles.create("group-reader", description="policy attached to its group")
    group = org.groups.create("readers")
    group.members.create(subject_type="role", subject_id=grouped.id)
    policy.attach(principal_type="group", principal_id=group.id)

    for role in (direct, grouped):
        as_role = sdk(role.api_keys.create("key").token)
        assert_reads_but_never_writes(as_role, seeded, reads_objects=True)


def test_an_agent_with_list_and_get_repository_reaches_its_repositories(
    sdk: MakeClient, container: Container
) -> None:
    owner, member = person(container), person(container)
    seeded = seed(sdk(owner.token))
    seeded.org.members.create(member.username)
    agent = sdk(member.token).organizations.get(seeded.org.name).agents.create("navigator")
    agent = agent.update(inline_policy=AGENT_POLICY)
    as_agent = sdk(agent.api_keys.create("key").token)
    assert_reads_but_never_writes(as_agent, seeded, reads_objects=False)


def test_tildes_published_policy_form_scopes_a_role_to_its_paths(
    sdk: MakeClient, container: Container
) -> None:
    owner = person(container)
    seeded = seed(sdk(owner.token))
    with seeded.org.repositories.get(seeded.repos[0]).session() as session:
        session.objects.put("other/b.csv", CSV)
        session.commit("outside the role's paths")
    text = 'ListRepositories ()\nListCommits (repository: "data-*")\nGetObject (path: "/data/*")\n'
    policy = seeded.org.policies.create("published", text)
    role = seeded.org.roles.create("scoped")
    policy.attach(principal_type="role", principal_id=role.id)
    as_role = sdk(role.api_keys.create("key").token)
    repo = as_role.organizations.get(seeded.org.name).repositories.get(seeded.repos[0])
    head = next(iter(repo.commits.list()))
    assert head.objects.get("data/a.csv").read() == CSV
    with pytest.raises(ForbiddenError):
        head.objects.get("other/b.csv").read()


def test_outsiders_still_get_404_and_the_last_page_says_next_offset_empty(
    sdk: MakeClient, container: Container, live_server: LiveServer
) -> None:
    owner, outsider = person(container), person(container)
    seeded = seed(sdk(owner.token))
    with pytest.raises(NotFoundError):
        sdk(outsider.token).organizations.get(seeded.org.name)
    elsewhere = sdk(outsider.token).organizations.create(name("other"), "Other")
    stranger = elsewhere.roles.create("stranger")
    with pytest.raises(NotFoundError):
        sdk(stranger.api_keys.create("key").token).organizations.get(seeded.org.name)

    url = f"{live_server.url}/api/v1/organizations/{seeded.org.name}/repositories"
    pages = []
    after = None
    with httpx.Client(headers=bearer(owner.token)) as http:
        while True:
            params = {"amount": 1, **({"after": after} if after is not None else {})}
            body = http.get(url, params=params).json()
            pages.append(body["pagination"])
            if not body["pagination"]["has_more"]:
                break
            after = body["pagination"]["next_offset"]
    assert [p["has_more"] for p in pages] == [True, False]
    assert pages[0]["next_offset"]  # a cursor to resume from when there is more
    assert pages[-1]["next_offset"] == ""  # the spec's type is string: never null
