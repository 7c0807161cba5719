"""The official SDK (`tilde-sdk`) against a live server, on SQLite and PostgreSQL:
organizations, members, groups, policies, roles, agents and their keys."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import tilde
from tilde.exceptions import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ServerError,
)

from infra.bootstrap import Container
from tests.builders import name
from tests.conftest import LiveServer
from tests.orgs import person

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


def test_organizations_members_groups_and_policies(sdk: MakeClient, container: Container) -> None:
    owner, member = person(container), person(container)
    client = sdk(owner.token)
    org_name = name("sdk")
    org = client.organizations.create(org_name, "SDK Org")
    assert (org.name, org.display_name) == (org_name, "SDK Org")
    assert org.id and org.created_at is not None
    assert org_name in [o.name for o in client.organizations.list()]
    assert client.organizations.get(org_name).id == org.id
    with pytest.raises(ConflictError):
        client.organizations.create(org_name, "again")
    with pytest.raises(BadRequestError):
        client.organizations.create("admin", "reserved")

    added = org.members.create(member.username)
    assert (added.user_id, added.username, added.email) == (
        member.id,
        member.username,
        member.email,
    )
    assert {m.username for m in org.members.list()} == {owner.username, member.username}
    assert org.members.get(member.id).username == member.username
    with pytest.raises(NotFoundError):
        org.members.get("nobody")
    with pytest.raises(NotFoundError):
        org.members.create(name("ghost"))

    group = org.groups.create("eng", description="engineers")
    assert (group.name, group.description, group.created_by) == ("eng", "engineers", owner.id)
    org.groups.create("ops")
    assert [g.name for g in org.groups.list(page_size=1)] == ["eng", "ops"]
    joined = group.members.create(subject_type="user", subject_id=member.id)
    assert (joined.subject_id, joined.username) == (member.id, member.username)
    assert joined.added_at is not None
    assert [m.subject_id for m in group.members.list()] == [member.id]
    renamed = group.update(name="engineering")
    assert (renamed.id, renamed.name, renamed.description) == (group.id, "engineering", "engineers")

    policy = org.policies.create("readers", "ListRoles()\n", description="read roles")
    assert (policy.name, policy.policy_text, policy.is_builtin) == (
        "readers",
        "ListRoles()\n",
        False,
    )
    summaries = {p.name: p for p in org.policies.list()}
    assert set(summaries) == {"AgentManager", "Member", "Owner", "readers"}
    assert summaries["Owner"].is_builtin and summaries["Owner"].attachment_count == 1
    policy.attach(principal_type="group", principal_id=group.id)
    fetched = org.policies.get(policy.id)
    assert fetched.policy_text == "ListRoles()\n"
    assert [(a.principal_type, a.principal_name) for a in fetched.attachments] == [
        ("group", "engineering")
    ]
    assert [a.policy_name for a in org.groups.get(group.id).attachments] == ["readers"]
    assert ("readers", "group") in {
        (a.policy_name, a.principal_type) for a in org.policies.attachments()
    }
    effective = {
        (e.policy_name, e.source, e.source_name) for e in org.policies.effective(user_id=member.id)
    }
    assert effective == {
        ("Member", "direct", ""),
        ("AgentManager", "direct", ""),
        ("readers", "group", "engineering"),
    }
    assert [g.group_name for g in org.groups.effective("user", member.id)] == ["engineering"]
    policy.detach(principal_type="group", principal_id=group.id)
    assert org.policies.get(policy.id).attachments == []
    updated = policy.update(policy_text="ListRoles()\nGetRole()\n")
    assert updated.policy_text.endswith("GetRole()\n")
    with pytest.raises(BadRequestError):
        policy.update(policy_text="Nope()")
    with pytest.raises(BadRequestError):
        org.policies.get(summaries["Owner"].id).update(policy_text="GetObject()")

    assert org.policies.validate("GetObject()").valid is True
    result = org.policies.validate("GetObject()\nNope()")
    assert result.valid is False
    assert [(e.line, e.column, e.message) for e in result.errors] == [
        (2, 1, "unknown action 'Nope'")
    ]
    with pytest.raises(ServerError) as unavailable:
        org.policies.generate("let people read")
    assert unavailable.value.status_code == 503 and unavailable.value.code == "NOT_CONFIGURED"

    group.members.delete(subject_type="user", subject_id=member.id)
    assert list(group.members.list()) == []
    group.delete()
    with pytest.raises(NotFoundError):
        org.groups.get(group.id)
    org.policies.delete(policy.id)
    with pytest.raises(NotFoundError):
        org.policies.get(policy.id)
    org.members.delete(member.id)
    assert {m.username for m in org.members.list()} == {owner.username}
    with pytest.raises(NotFoundError):
        sdk(member.token).organizations.get(org_name)
    org.delete()
    with pytest.raises(NotFoundError):
        client.organizations.get(org_name)


def test_roles_agents_keys_and_the_agents_authority(sdk: MakeClient, container: Container) -> None:
    owner, member = person(container), person(container)
    client, as_member = sdk(owner.token), sdk(member.token)
    org = client.organizations.create(name("sdk"), "SDK Org")
    org.members.create(member.username)

    role = org.roles.create("deployer", description="CI")
    assert (role.name, role.description, role.created_by_name) == ("deployer", "CI", owner.username)
    assert [r.name for r in org.roles.list()] == ["deployer"]
    assert org.roles.get("deployer").id == role.id
    key = role.api_keys.create("ci-key")
    assert key.token.startswith("trk-") and key.id
    assert [k.id for k in role.api_keys.list()] == [key.id]
    listed = role.api_keys.get(key.id)
    assert (listed.name, listed.token, listed.token_hint) == ("ci-key", "", key.token[-4:])
    policy = org.policies.create("role-reads", "GetOrganization()\n")
    policy.attach(principal_type="role", principal_id=role.id)
    as_role = sdk(key.token)
    assert as_role.organizations.get(org.name).id == org.id
    with pytest.raises(ForbiddenError):
        list(as_role.organizations.get(org.name).members.list())
    key.revoke()
    assert role.api_keys.get(key.id).revoked_at is not None
    with pytest.raises(AuthenticationError):
        as_role.organizations.get(org.name)
    spare = role.api_keys.create("spare")
    org.roles.delete("deployer")
    with pytest.raises(AuthenticationError):
        sdk(spare.token).organizations.get(org.name)
    with pytest.raises(NotFoundError):
        org.roles.get("deployer")

    member_org = as_member.organizations.get(org.name)
    agent = member_org.agents.create("reporter", description="reports", metadata={"team": "data"})
    assert (agent.name, agent.metadata, agent.inline_policy) == ("reporter", {"team": "data"}, "")
    assert (agent.created_by_type, agent.created_by) == ("user", member.id)
    assert [a.name for a in org.agents.list()] == ["reporter"]
    agent = agent.update(inline_policy="ListMembers()\nGetOrganization()\n")
    assert agent.inline_policy == "ListMembers()\nGetOrganization()\n"
    assert agent.inline_policy_updated_at is not None
    assert member_org.agents.get("reporter").metadata == {"team": "data"}
    agent_key = agent.api_keys.create("bot-key")
    assert agent_key.token.startswith("tak-")
    assert [k.id for k in agent.api_keys.list()] == [agent_key.id]
    assert agent.api_keys.get(agent_key.id).token_hint == agent_key.token[-4:]
    inline = org.policies.effective(principal_type="agent", principal_id=agent.id)
    assert [(e.policy_name, e.source) for e in inline] == [("reporter (inline)", "inline")]

    as_agent = sdk(agent_key.token)
    agent_org = as_agent.organizations.get(org.name)
    assert [o.name for o in as_agent.organizations.list()] == [org.name]

    def agent_lists_members() -> bool:
        try:
            return {m.username for m in agent_org.members.list()} == {
                owner.username,
                member.username,
            }
        except ForbiddenError:
            return False

    # Inline ∩ creator: the member may list members, the agent asked for it.
    assert agent_lists_members()
    with pytest.raises(ForbiddenError):
        list(agent_org.groups.list())  # the creator may, the inline policy does not say so
    with pytest.raises(ForbiddenError):
        agent_org.agents.create("spawn")  # agents never create agents
    with pytest.raises(ForbiddenError):
        agent_org.agents.get("reporter").update(description="self-edit")
    # The creator loses ListMembers: so does the agent. It comes back with the grant.
    member_policy = next(p for p in org.policies.list() if p.name == "Member")
    org.policies.get(member_policy.id).detach(principal_type="user", principal_id=member.id)
    assert not agent_lists_members()
    org.policies.get(member_policy.id).attach(principal_type="user", principal_id=member.id)
    assert agent_lists_members()
    # The inline policy bounds it too.
    agent.update(inline_policy="GetOrganization()\n")
    assert not agent_lists_members()
    agent.update(inline_policy="ListMembers()\n")
    assert agent_lists_members()
    # The creator leaves: the agent keeps its key but loses every permission.
    org.members.delete(member.id)
    assert not agent_lists_members()

    spare_key = org.agents.get("reporter").api_keys.create("spare")
    org.agents.get("reporter").api_keys.delete(spare_key.id)
    with pytest.raises(AuthenticationError):
        next(sdk(spare_key.token).organizations.list())
    org.agents.delete("reporter")
    with pytest.raises(AuthenticationError):
        as_agent.organizations.get(org.name)
    with pytest.raises(NotFoundError):
        org.agents.get("reporter")
