"""The principals of the authorization matrix and the organization they live in.

`build_world` makes one organization holding every principal of `PRINCIPALS` (owner, member,
a narrow role, agents with an inline policy, none, or a creator who has left) and records in
`Who` what each one is granted; `World` also makes the throwaway resources destructive calls
act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar.testing import TestClient

from domain.organizations.builtins import AGENT_MANAGER_TEXT, MEMBER_TEXT, OWNER_TEXT
from domain.organizations.policy_language import Statement, compile_policy, decide
from infra.bootstrap import Container
from tests.builders import name
from tests.conftest import bearer
from tests.orgs import (
    API,
    Person,
    add_member,
    add_to_group,
    attach,
    create_agent,
    create_group,
    create_org,
    create_policy,
    create_principal_key,
    create_role,
    person,
)

ROLE_POLICY = "GetOrganization()\nListMembers()\nListRepositories()\n"
# What the agent asks for; it gets only what its creator (a plain member) may do as well.
INLINE_POLICY = """\
GetOrganization()
ListMembers()
ListGroups()
GetGroup()
CreateGroup()
DeleteGroup()
ListPolicies()
ValidatePolicy()
GetEffectivePolicies()
ListAgents()
GetAgent()
ListAgentAPIKeys()
ReadAuditLog()
ListRepositories()
GetRepository(repository="data")
DeleteRepository()
ListObjects()
GetObject(path="public/*")
CreateSession()
"""
# Roles whose object grants test the path: one allowed only under `builds/`, one allowed
# everything but `protected/` (deny lines). `PATH_SCOPED_ROLES` maps each to its policy.
PATHS_POLICY = """\
GetRepository()
GetObject(path="builds/*")
PutObject(path="builds/*")
DeleteObject(path="builds/*")
ListObjects(path="builds/*")
ListChanges(path="builds/*")
DiffCommits(path="builds/*")
"""
DENY_POLICY = """\
GetRepository()
GetObject()
PutObject()
DeleteObject()
ListObjects()
ListChanges()
DiffCommits()
deny GetObject(path="protected/*")
deny PutObject(path="protected/*")
deny DeleteObject(path="protected/*")
deny ListObjects(path="protected/*")
"""
PATH_SCOPED_ROLES = {"role_paths": PATHS_POLICY, "role_deny": DENY_POLICY}
PRINCIPALS = (
    "anonymous",
    "owner",
    "member",
    "outsider",
    "role",
    "agent_inline",
    "agent_bare",
    "agent_orphan",
    *PATH_SCOPED_ROLES,
)


# -- principals and the world they live in ---------------------------------------------------


@dataclass
class Who:
    """A principal of the matrix and what it is granted in the organization."""

    name: str
    kind: str  # anonymous | user | role | agent
    headers: dict[str, str]
    member: bool = False
    statements: tuple[Statement, ...] = ()
    self_id: str = ""
    creator: Who | None = None

    def grants(self, action: str, resource: dict[str, str]) -> bool:
        if not self.member:
            return False
        if action == "GetOrganization":  # every principal of the organization reads its record
            return True
        if not self.states(action, resource):
            return False
        if self.kind == "agent":  # bounded by its creator, who must still belong
            return self.creator is not None and self.creator.grants(action, resource)
        return True

    def states(self, action: str, resource: dict[str, str]) -> bool:
        """What its own statements allow, with the commit reads that reading every object of
        the repository brings (the SDK reads objects through a commit) unless a deny names them."""
        if decide(self.statements, action, resource, self.self_id):
            return True
        if action not in ("GetCommit", "ListCommits") or any(
            s.effect == "deny" and s.matches(action, resource, self.self_id)
            for s in self.statements
        ):
            return False
        root = {**resource, "path": ""}
        return any(
            decide(self.statements, r, root, self.self_id) for r in ("GetObject", "ListObjects")
        )


@dataclass
class World:
    """One organization with every principal of the matrix, and throwaway-resource makers."""

    client: TestClient[Any]
    container: Container
    people: dict[str, Person]
    org: str = ""
    who: dict[str, Who] = field(default_factory=dict)
    group: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    role: str = ""  # the narrow role (a principal)
    key_role: str = ""  # a role whose keys the key routes act on
    key_role_key: str = ""
    owned_agent: dict[str, Any] = field(default_factory=dict)  # created by the owner
    keys_agent: dict[str, Any] = field(default_factory=dict)  # created by the member
    keys_agent_key: str = ""
    repo: str = "data"  # never created: an allowed call reaches the handler and gets its 404

    @property
    def owner(self) -> Person:
        return self.people["owner"]

    @property
    def member(self) -> Person:
        return self.people["member"]

    def fresh_group(self, *, with_member: bool = False) -> dict[str, Any]:
        group = create_group(self.client, self.owner, self.org)
        if with_member:
            add_to_group(self.client, self.owner, self.org, group["id"], "user", self.member.id)
        return group

    def fresh_policy(self, *, attached: bool = False) -> dict[str, Any]:
        policy = create_policy(self.client, self.owner, self.org, "ListGroups()")
        if attached:
            attach(self.client, self.owner, self.org, policy["id"], "user", self.member.id)
        return policy

    def fresh_role(self) -> str:
        return str(create_role(self.client, self.owner, self.org)["name"])

    def fresh_agent(self) -> dict[str, Any]:
        return create_agent(self.client, self.member, self.org)

    def fresh_key(self, kind: str, principal: str) -> str:
        actor = self.owner if kind == "roles" else self.member
        return str(create_principal_key(self.client, actor, self.org, kind, principal)["id"])

    def fresh_member(self) -> str:
        newcomer = person(self.container)
        add_member(self.client, self.owner, self.org, newcomer)
        return newcomer.id

    def fresh_invitation(self) -> str:
        response = self.client.post(
            f"{API}/organizations/{self.org}/invitations",
            json={"email": f"{name('inv')}@example.com"},
            headers=self.owner.auth,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def fresh_world(self) -> World:
        return build_world(self.client, self.container, self.people)


def build_world(client: TestClient[Any], container: Container, people: dict[str, Person]) -> World:
    owner, member, leaver = people["owner"], people["member"], people["leaver"]
    world = World(client, container, people)
    org = world.org = create_org(client, owner)["name"]
    add_member(client, owner, org, member)
    add_member(client, owner, org, leaver)
    world.group = create_group(client, owner, org)
    world.policy = create_policy(client, owner, org, "ListRoles()")
    role = create_role(client, owner, org)
    world.role = role["name"]
    narrow = create_policy(client, owner, org, ROLE_POLICY)
    attach(client, owner, org, narrow["id"], "role", role["id"])
    role_token = create_principal_key(client, owner, org, "roles", world.role)["token"]
    world.key_role = create_role(client, owner, org)["name"]
    world.key_role_key = world.fresh_key("roles", world.key_role)
    world.owned_agent = create_agent(client, owner, org)

    inline = create_agent(client, member, org, inline_policy=INLINE_POLICY)
    inline_token = create_principal_key(client, member, org, "agents", inline["name"])["token"]
    world.keys_agent = bare = create_agent(client, member, org)
    bare_token = create_principal_key(client, member, org, "agents", bare["name"])["token"]
    world.keys_agent_key = world.fresh_key("agents", bare["name"])
    orphan = create_agent(client, leaver, org, inline_policy="*()")
    orphan_token = create_principal_key(client, leaver, org, "agents", orphan["name"])["token"]
    removed = client.delete(f"{API}/organizations/{org}/members/{leaver.id}", headers=owner.auth)
    assert removed.status_code == 204, removed.text

    member_grants = compile_policy(MEMBER_TEXT) + compile_policy(AGENT_MANAGER_TEXT)
    as_member = Who("member", "user", member.auth, True, member_grants, member.id)
    gone = Who("leaver", "user", leaver.auth, False, member_grants, leaver.id)
    for who in (
        Who("anonymous", "anonymous", {}),
        Who("owner", "user", owner.auth, True, compile_policy(OWNER_TEXT), owner.id),
        as_member,
        Who("outsider", "user", people["outsider"].auth),
        Who("role", "role", bearer(role_token), True, compile_policy(ROLE_POLICY), role["id"]),
        Who(
            "agent_inline",
            "agent",
            bearer(inline_token),
            True,
            compile_policy(INLINE_POLICY),
            inline["id"],
            as_member,
        ),
        Who("agent_bare", "agent", bearer(bare_token), True, (), bare["id"], as_member),
        Who(
            "agent_orphan",
            "agent",
            bearer(orphan_token),
            True,
            compile_policy("*()"),
            orphan["id"],
            gone,
        ),
    ):
        world.who[who.name] = who
    for label, text in PATH_SCOPED_ROLES.items():
        world.who[label] = policy_role(world, label, text)
    return world


def policy_role(world: World, label: str, text: str) -> Who:
    """A role of the world's organization granted exactly `text`, with its own key."""
    client, owner, org = world.client, world.owner, world.org
    scoped = create_role(client, owner, org)
    policy = create_policy(client, owner, org, text)
    attach(client, owner, org, policy["id"], "role", scoped["id"])
    token = create_principal_key(client, owner, org, "roles", scoped["name"])["token"]
    return Who(label, "role", bearer(token), True, compile_policy(text), scoped["id"])
