"""The authorization matrix: every route of the app, called as every kind of principal.

`ROUTES` maps each route — `(METHOD, path template)` exactly as `create_app()` declares it —
to how to call it (path parameters, query, body, and the resource attributes the guard will
see). The expected outcome is not written in the table: it is computed from the action the
route declares (`handler.opt["action"]` → its scope in `domain.shared.actions.ACTIONS`) and
from what each principal is granted, evaluated with the policy language over the built-in
texts, the role's policy and the agents' inline policies (for agents, intersected with their
creator's grants).

A route missing from the table, or a table entry the app no longer has, fails the coverage
test: a new route must come with its row. Destructive calls act on throwaway resources made
for that one call, so the order of the calls does not matter.

SQLite only by default; `TILDE_MATRIX_BACKENDS=sqlite,postgres` runs it on both.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute, WebSocketRoute
from litestar.testing import TestClient

from domain.organizations.builtins import AGENT_MANAGER_TEXT, MEMBER_TEXT, OWNER_TEXT
from domain.organizations.policy_language import Statement, compile_policy, decide
from domain.shared.actions import ACTIONS, Action
from infra.bootstrap import Container, bootstrap
from interfaces.http.app import create_app
from tests import services
from tests.builders import name
from tests.conftest import FAST_HASHER, bearer, create_user, make_settings
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

BACKENDS = os.environ.get("TILDE_MATRIX_BACKENDS", "sqlite").split(",")

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
AGENT_WRITES = frozenset({"CreateAgent", "UpdateAgent", "DeleteAgent"})
ORG_SCOPES = ("organization", "repository")
PRINCIPALS = (
    "anonymous",
    "owner",
    "member",
    "outsider",
    "role",
    "agent_inline",
    "agent_bare",
    "agent_orphan",
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
        if not self.member or not decide(self.statements, action, resource, self.self_id):
            return False
        if self.kind == "agent":  # bounded by its creator, who must still belong
            return self.creator is not None and self.creator.grants(action, resource)
        return True


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
    return world


# -- the table ------------------------------------------------------------------------------


@dataclass
class Call:
    """One concrete request: path parameters (besides defaults), query, body, and the
    attributes the guard sees for the policy decision."""

    params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] | None = None
    body: Any = None
    resource: dict[str, str] = field(default_factory=dict)
    world: World | None = None  # a throwaway organization, for calls that destroy one


Build = Callable[[World, str], Call]


@dataclass(frozen=True)
class Entry:
    build: Build = lambda w, p: Call()
    # A public route's own refusal (status, words of its message), not the guard's.
    refusal: tuple[int, str] | None = None
    # 5xx statuses an allowed call answers by design.
    statuses: frozenset[int] = frozenset()
    # A HEAD answer has no body: a 404 is told apart from the hidden organization by the
    # GET route of the same path, which declares the same action.
    twin: str = ""


def body(value: Any) -> Entry:
    return Entry(lambda w, p: Call(body=value))


def query(**values: str) -> Entry:
    return Entry(lambda w, p: Call(query=values))


def group_call(make: Callable[[World], dict[str, Any]], **kw: Any) -> Build:
    def build(w: World, _p: str) -> Call:
        group = make(w)
        return Call({"group_id": group["id"]}, resource={"group": group["name"]}, **kw)

    return build


def policy_call(make: Callable[[World], dict[str, Any]], **kw: Any) -> Build:
    def build(w: World, _p: str) -> Call:
        policy = make(w)
        return Call({"policy_id": policy["id"]}, resource={"policy": policy["name"]}, **kw)

    return build


def member_subject(w: World, _p: str) -> dict[str, str]:
    return {"subject_type": "user", "subject_id": w.member.id}


def agent_call(
    make: Callable[[World], dict[str, Any]], params: dict[str, str] | None = None, **kw: Any
) -> Build:
    def build(w: World, _p: str) -> Call:
        agent = make(w)
        resource = {"agent": agent["name"], "agent_owner": agent["created_by"]}
        return Call({"agent_name": agent["name"], **(params or {})}, resource=resource, **kw)

    return build


def keys_agent_call(key: Callable[[World], str] | None = None, **kw: Any) -> Build:
    def build(w: World, p: str) -> Call:
        params = {"key_id": key(w)} if key else {}
        return agent_call(lambda w: w.keys_agent, params=params, **kw)(w, p)

    return build


def role_call(
    role: Callable[[World], str], key: Callable[[World], str] | None = None, **kw: Any
) -> Build:
    def build(w: World, _p: str) -> Call:
        role_name = role(w)
        params = {"role_name": role_name, **({"key_id": key(w)} if key else {})}
        return Call(params, resource={"role": role_name}, **kw)

    return build


def named(attribute: str, **extra: Any) -> Build:
    """A create call whose name arrives in the body (checked against the attribute)."""

    def build(_w: World, _p: str) -> Call:
        label = name(f"{attribute[0]}-")
        return Call(body={"name": label, **extra}, resource={attribute: label})

    return build


def repo(path: str | None = None, *, twin: str = "", **kw: Any) -> Entry:
    """A repository-scope call on `world.repo` (optionally with an object path)."""

    extra = kw.pop("query", {})
    payload = kw.pop("body", None)

    def build(w: World, _p: str) -> Call:
        q = {"session_id": "s-1", **({"path": path} if path else {}), **extra}
        resource = {"repository": w.repo}
        # The object path a policy's `path=` tests: the first of these query parameters.
        for key in ("path", "destination_path", "prefix"):
            if key in q:
                resource["path"] = q[key]
                break
        return Call(dict(kw), query=q, body=payload, resource=resource)

    return Entry(build, twin=twin)


ORG = "/api/v1/organizations/{organization:str}"
REPO = ORG + "/repositories/{repository:str}"
APPROVE_PAGE = "/console" + REPO.removeprefix("/api/v1") + "/sessions/{session_id:str}/approve"
NOBODY = "00000000-0000-0000-0000-000000000000"

PUBLIC_ROUTES: dict[tuple[str, str], Entry] = {
    ("POST", "/api/v1/auth/signup"): body({}),
    ("POST", "/api/v1/auth/login"): body({}),
    ("POST", "/api/v1/auth/forgot-password"): body({}),
    ("POST", "/api/v1/auth/reset-password"): body({}),
    ("POST", "/api/v1/auth/check-password-strength"): body({}),
    ("GET", "/api/v1/auth/check-username"): query(username="someone"),
    ("GET", "/api/v1/auth/verify-email"): query(token="bogus"),
    ("GET", "/api/v1/auth/oauth/providers"): Entry(),
    ("GET", "/api/v1/auth/oauth/{provider:str}/authorize"): Entry(),
    ("GET", "/api/v1/auth/oauth/{provider:str}/callback"): Entry(),
    ("GET", "/api/v1/auth/oauth/claim-info"): Entry(refusal=(401, "no OAuth sign-in")),
    ("POST", "/api/v1/auth/oauth/complete-registration"): Entry(
        lambda w, p: Call(body={"username": "nobody"}), refusal=(403, "no OAuth sign-in")
    ),
    ("POST", "/api/v1/auth/device/code"): Entry(),
    ("POST", "/api/v1/auth/device/token"): body({"device_code": "bogus"}),
    ("GET", "/api/v1/auth/validate-invitation-token"): query(token="bogus"),
    ("GET", "/health"): Entry(),
    ("GET", "/metrics"): Entry(),
    ("GET", "/api/v1/openapi.json"): Entry(),
    ("GET", "/_blob/d/{token:str}"): Entry(refusal=(403, "signature")),
    ("HEAD", "/_blob/d/{token:str}"): Entry(refusal=(403, "")),
    ("PUT", "/_blob/u/{token:str}"): Entry(refusal=(403, "signature")),
    ("PUT", "/_blob/p/{token:str}"): Entry(refusal=(403, "signature")),
    ("GET", "/console"): Entry(),
    ("GET", "/console/login"): Entry(),
    # The console signs people in itself: a bad form is its own refusal, not the guard's.
    ("POST", "/console/login"): Entry(refusal=(401, "Sign in")),
    ("GET", "/console/device"): Entry(),
    ("POST", "/console/device"): Entry(refusal=(403, "Refused")),
    ("GET", "/console/invitations"): Entry(),
    ("POST", "/console/invitations"): Entry(refusal=(403, "Refused")),
    ("GET", "/console/reset-password"): Entry(),
    ("POST", "/console/reset-password"): Entry(),
    ("GET", APPROVE_PAGE): Entry(),
    ("POST", APPROVE_PAGE): Entry(),
}

# User-scope calls are harmless: invalid bodies or unknown ids (a 4xx from the handler).
USER_ROUTES: dict[tuple[str, str], Entry] = {
    ("POST", "/api/v1/auth/logout"): Entry(),
    ("GET", "/api/v1/auth/me"): Entry(),
    ("PATCH", "/api/v1/auth/me"): body({}),
    ("DELETE", "/api/v1/auth/me"): body({}),
    ("PUT", "/api/v1/auth/me/password"): body({}),
    ("GET", "/api/v1/auth/me/identities"): Entry(),
    ("DELETE", "/api/v1/auth/me/identities/{provider:str}"): Entry(),
    ("GET", "/api/v1/auth/oauth/{provider:str}/link"): Entry(),
    ("GET", "/api/v1/auth/search-users"): query(q="u"),
    ("POST", "/api/v1/auth/emails"): body({}),
    ("GET", "/api/v1/auth/emails"): Entry(),
    ("POST", "/api/v1/auth/keys"): body({}),
    ("GET", "/api/v1/auth/keys"): Entry(),
    ("DELETE", "/api/v1/auth/keys/{key_id:str}"): Entry(),
    ("POST", "/api/v1/auth/device/confirm"): body({}),
    ("POST", "/api/v1/organizations"): body({}),
    ("GET", "/api/v1/invitations"): Entry(),
    ("POST", "/api/v1/invitations/{invitation_id:str}/accept"): Entry(),
    ("POST", "/api/v1/invitations/{invitation_id:str}/decline"): Entry(),
    # authenticated (any principal)
    ("GET", "/api/v1/organizations"): Entry(),
    ("GET", "/api/v1/organizations/check-name"): query(name="free-name"),
    ("GET", "/api/v1/repositories"): Entry(),
    # admin (no principal of the matrix is an operator)
    ("GET", "/api/v1/admin/users"): Entry(),
    ("POST", "/api/v1/admin/users/{username:str}/approve"): Entry(),
}

ORG_ROUTES: dict[tuple[str, str], Entry] = {
    ("GET", ORG): Entry(),
    ("DELETE", ORG): Entry(lambda w, p: Call(world=w.fresh_world())),
    ("GET", ORG + "/audit"): Entry(),
    ("GET", ORG + "/members"): Entry(),
    ("POST", ORG + "/members"): Entry(
        lambda w, p: Call(body={"username": create_user(w.container)["username"]})
    ),
    ("DELETE", ORG + "/members/{user_id:str}"): Entry(
        lambda w, p: Call({"user_id": w.fresh_member()})
    ),
    ("POST", ORG + "/invitations"): Entry(
        lambda w, p: Call(body={"email": f"{name('inv')}@example.com"})
    ),
    ("GET", ORG + "/invitations"): Entry(),
    ("DELETE", ORG + "/invitations/{invitation_id:str}"): Entry(
        lambda w, p: Call({"invitation_id": w.fresh_invitation()})
    ),
    ("POST", ORG + "/groups"): Entry(named("group")),
    ("GET", ORG + "/groups"): Entry(),
    ("GET", ORG + "/groups/{group_id:str}"): Entry(group_call(lambda w: w.group)),
    ("PUT", ORG + "/groups/{group_id:str}"): Entry(
        group_call(lambda w: w.group, body={"description": "edited"})
    ),
    ("DELETE", ORG + "/groups/{group_id:str}"): Entry(group_call(World.fresh_group)),
    ("POST", ORG + "/groups/{group_id:str}/members"): Entry(
        lambda w, p: group_call(World.fresh_group, body=member_subject(w, p))(w, p)
    ),
    ("DELETE", ORG + "/groups/{group_id:str}/members"): Entry(
        lambda w, p: group_call(
            lambda w: w.fresh_group(with_member=True), query=member_subject(w, p)
        )(w, p)
    ),
    ("GET", ORG + "/effective-groups"): Entry(),
    ("POST", ORG + "/policies"): Entry(named("policy", policy_text="GetOrganization()")),
    ("GET", ORG + "/policies"): Entry(),
    ("GET", ORG + "/policies/{policy_id:str}"): Entry(policy_call(lambda w: w.policy)),
    ("PUT", ORG + "/policies/{policy_id:str}"): Entry(
        policy_call(lambda w: w.policy, body={"description": "edited"})
    ),
    ("DELETE", ORG + "/policies/{policy_id:str}"): Entry(policy_call(World.fresh_policy)),
    ("POST", ORG + "/policies/{policy_id:str}/attachments"): Entry(
        lambda w, p: policy_call(
            World.fresh_policy, body={"principal_type": "user", "principal_id": w.member.id}
        )(w, p)
    ),
    ("DELETE", ORG + "/policies/{policy_id:str}/attachments"): Entry(
        lambda w, p: policy_call(
            lambda w: w.fresh_policy(attached=True),
            query={"principal_type": "user", "principal_id": w.member.id},
        )(w, p)
    ),
    ("POST", ORG + "/policies:validate"): body({"policy_text": "GetObject()"}),
    ("POST", ORG + "/policies:generate"): Entry(
        lambda w, p: Call(body={"prompt": "read-only"}), statuses=frozenset({503})
    ),
    ("GET", ORG + "/attachments"): Entry(),
    ("GET", ORG + "/effective-policies"): Entry(),
    ("POST", ORG + "/roles"): Entry(named("role")),
    ("GET", ORG + "/roles"): Entry(),
    ("GET", ORG + "/roles/{role_name:str}"): Entry(role_call(lambda w: w.role)),
    ("DELETE", ORG + "/roles/{role_name:str}"): Entry(role_call(World.fresh_role)),
    ("POST", ORG + "/roles/{role_name:str}/auth/keys"): Entry(
        role_call(lambda w: w.key_role, body={"name": "k"})
    ),
    ("GET", ORG + "/roles/{role_name:str}/auth/keys"): Entry(role_call(lambda w: w.key_role)),
    ("GET", ORG + "/roles/{role_name:str}/auth/keys/{key_id:str}"): Entry(
        role_call(lambda w: w.key_role, lambda w: w.key_role_key)
    ),
    ("DELETE", ORG + "/roles/{role_name:str}/auth/keys/{key_id:str}"): Entry(
        role_call(lambda w: w.key_role, lambda w: w.fresh_key("roles", w.key_role))
    ),
    ("POST", ORG + "/agents"): Entry(named("agent")),
    ("GET", ORG + "/agents"): Entry(),
    ("GET", ORG + "/agents/{agent_name:str}"): Entry(agent_call(lambda w: w.owned_agent)),
    ("PUT", ORG + "/agents/{agent_name:str}"): Entry(
        agent_call(lambda w: w.owned_agent, body={"description": "edited"})
    ),
    ("DELETE", ORG + "/agents/{agent_name:str}"): Entry(agent_call(World.fresh_agent)),
    ("POST", ORG + "/agents/{agent_name:str}/auth/keys"): Entry(
        keys_agent_call(body={"name": "k"})
    ),
    ("GET", ORG + "/agents/{agent_name:str}/auth/keys"): Entry(keys_agent_call()),
    ("GET", ORG + "/agents/{agent_name:str}/auth/keys/{key_id:str}"): Entry(
        keys_agent_call(lambda w: w.keys_agent_key)
    ),
    ("DELETE", ORG + "/agents/{agent_name:str}/auth/keys/{key_id:str}"): Entry(
        keys_agent_call(lambda w: w.fresh_key("agents", w.keys_agent["name"]))
    ),
    ("POST", ORG + "/repositories"): Entry(named("repository")),
    ("GET", ORG + "/repositories"): Entry(),
}

# Repository-scope routes (the catalog). `world.repo` does not exist: an allowed principal
# reaches the handler and gets its own answer (often "repository not found"), which is
# neither a 401/403 nor the organization-not-found 404.
REPO_ROUTES: dict[tuple[str, str], Entry] = {
    ("GET", REPO): repo(),
    ("PUT", REPO): repo(body={"description": "x"}),
    ("DELETE", REPO): repo(),
    ("POST", REPO + "/sessions"): repo(),
    ("POST", REPO + "/sessions/{session_id:str}"): repo(body={"message": "m"}),
    ("DELETE", REPO + "/sessions/{session_id:str}"): repo(),
    # The committing agent polls HEAD …/approve: it is guarded by CommitSession, like commit.
    ("HEAD", REPO + "/sessions/{session_id:str}/approve"): repo(
        twin="POST " + REPO + "/sessions/{session_id:str}"
    ),
    ("GET", REPO + "/sessions/{session_id:str}/approve"): repo(),
    ("POST", REPO + "/sessions/{session_id:str}/approve"): repo(),
    ("GET", REPO + "/changes"): repo(),
    ("GET", REPO + "/objects"): repo(query={"prefix": "public/"}),
    ("POST", REPO + "/objects/delete"): repo(body={"paths": ["a"]}),
    ("GET", REPO + "/object"): repo("public/a.csv"),
    ("HEAD", REPO + "/object"): repo("private/a.csv", twin="GET"),
    ("PUT", REPO + "/object"): repo("raw/a.csv"),
    ("DELETE", REPO + "/object"): repo("raw/a.csv"),
    ("POST", REPO + "/object/copy"): repo(query={"source_path": "a", "destination_path": "b"}),
    ("POST", REPO + "/object/finalize"): repo("raw/a.csv", body={}),
    ("POST", REPO + "/object/multipart"): repo("raw/a.csv"),
    ("DELETE", REPO + "/object/multipart"): repo("raw/a.csv"),
    ("GET", REPO + "/object/multipart/part"): repo("raw/a.csv"),
    ("POST", REPO + "/object/multipart/complete"): repo("raw/a.csv", body={}),
    ("GET", REPO + "/log"): repo(),
    ("GET", REPO + "/diff"): repo(),
    ("GET", REPO + "/commits/{commit_id:str}"): repo(),
    ("POST", REPO + "/commits/{commit_id:str}/revert"): repo(body={}),
}

ROUTES: dict[tuple[str, str], Entry] = {**PUBLIC_ROUTES, **USER_ROUTES, **ORG_ROUTES, **REPO_ROUTES}

DEFAULT_PARAMS = {
    "provider": "nowhere",
    "key_id": "no-such-key",
    "invitation_id": NOBODY,
    "username": "nobody",
    "token": "bogus",
    "session_id": "s-1",
    "commit_id": "c-1",
    "path": "nothing",
}


# -- running the matrix ---------------------------------------------------------------------


def app_handlers(app: Litestar) -> dict[tuple[str, str], HTTPRouteHandler]:
    """(method, path template) → handler, without Litestar's automatic OPTIONS/HEAD."""
    found: dict[tuple[str, str], HTTPRouteHandler] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.handler_name == "options_handler" and handler.http_methods == {"OPTIONS"}:
                continue
            for method in handler.http_methods:
                if method == "OPTIONS" or (method == "HEAD" and "GET" in handler.http_methods):
                    continue
                found[(method, route.path)] = handler
    return found


def expected(action: Action, who: Who, resource: dict[str, str]) -> str:
    """'public', 'ok', '401', '403' or '404' (the organization is hidden)."""
    if action.scope == "public":
        return "public"
    if who.kind == "anonymous":
        return "401"
    if action.scope == "authenticated":
        return "ok"
    if action.scope == "user":
        return "ok" if who.kind == "user" else "403"
    if action.scope == "admin":
        return "403"
    if not who.member:
        return "404"
    if who.kind == "agent" and action.name in AGENT_WRITES:
        return "403"  # agents never create, update or delete agents
    relevant = {k: v for k, v in resource.items() if k in action.resources}
    return "ok" if who.grants(action.name, relevant) else "403"


def problem(outcome: str, response: Any, method: str, org: str, entry: Entry) -> str | None:
    """Why `response` does not match the expected outcome, or None."""
    status = response.status_code
    payload: dict[str, Any] = {}
    if method != "HEAD" and response.headers.get("content-type", "").startswith("application/json"):
        payload = response.json() if isinstance(response.json(), dict) else {}
    message, code = str(payload.get("message", "")), payload.get("code")
    hidden = status == 404 and (method == "HEAD" or message == f"organization '{org}' not found")
    if outcome == "public":
        if status in (401, 403):
            declared = entry.refusal
            if declared is None or declared[0] != status or declared[1] not in response.text:
                return "a public route refused the call"
        return "server error" if status >= 500 and status not in entry.statuses else None
    if outcome == "ok":
        if status in (401, 403) or hidden:
            return "refused an allowed call"
        return "server error" if status >= 500 and status not in entry.statuses else None
    if outcome == "404":
        return None if hidden else "the organization was not hidden"
    if status != int(outcome):
        return "wrong status"
    if method != "HEAD" and code != {"401": "UNAUTHORIZED", "403": "FORBIDDEN"}[outcome]:
        return f"wrong code {code}"
    return None


def url_of(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: quote(values[m.group(1)], safe=""), template)


@dataclass
class Matrix:
    app: Litestar
    client: TestClient[Any]
    world: World
    handlers: dict[tuple[str, str], HTTPRouteHandler]


@pytest.fixture(scope="module", params=BACKENDS)
def matrix(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Matrix]:
    settings = make_settings(Path(tmp_path_factory.mktemp("matrix")), request.param)
    container = bootstrap(settings, hasher=FAST_HASHER)
    app = create_app(container, run_background=True)
    try:
        with TestClient(app, base_url="http://testserver.local") as client:
            people = {p: person(container) for p in ("owner", "member", "outsider", "leaver")}
            create_org(client, people["outsider"])
            world = build_world(client, container, people)
            yield Matrix(app, client, world, app_handlers(app))
    finally:
        container.close()
        if settings.is_postgres:
            services.drop_database(settings.database_url)


def test_every_route_of_the_app_has_exactly_one_table_entry(matrix: Matrix) -> None:
    missing = sorted(set(matrix.handlers) - set(ROUTES))
    stale = sorted(set(ROUTES) - set(matrix.handlers))
    websockets = sorted(r.path for r in matrix.app.routes if isinstance(r, WebSocketRoute))
    assert missing == [], f"routes with no row in ROUTES (add one): {missing}"
    assert stale == [], f"rows in ROUTES for routes the app no longer has: {stale}"
    assert websockets == [], f"WebSocket routes: teach the matrix to call them: {websockets}"
    sections = [PUBLIC_ROUTES, USER_ROUTES, ORG_ROUTES, REPO_ROUTES]
    assert sum(len(s) for s in sections) == len(ROUTES), "a route sits in two sections"


def test_the_matrix_exercises_every_kind_of_outcome(matrix: Matrix) -> None:
    """The principals are set up as intended (a broken world would make the matrix vacuous)."""
    who = matrix.world.who
    group = {"group": matrix.world.group["name"]}
    assert who["owner"].grants("DeleteOrganization", {})
    assert who["member"].grants("ListMembers", {}) and not who["member"].grants("RemoveMember", {})
    assert who["role"].grants("ListMembers", {}) and not who["role"].grants("ListGroups", {})
    assert who["agent_inline"].grants("GetGroup", group)
    assert not who["agent_inline"].grants("CreateGroup", group)  # the member may not
    assert not who["agent_inline"].grants("RemoveMember", {})  # the agent did not ask
    assert not who["agent_bare"].grants("GetOrganization", {})
    assert not who["agent_orphan"].grants("GetOrganization", {})


@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_enforces_its_action_for_every_principal(
    matrix: Matrix, route: tuple[str, str]
) -> None:
    method, template = route
    handler = matrix.handlers.get(route)
    assert handler is not None, f"stale row: the app has no {method} {template}"
    action = ACTIONS.get(str(handler.opt.get("action")))
    assert action is not None, (
        f"{method} {template} declares no known authorization action "
        f"(opt={handler.opt!r}); the guard cannot decide who may call it"
    )
    entry, client = ROUTES[route], matrix.client
    failures = []
    for principal in PRINCIPALS:
        call = entry.build(matrix.world, principal)
        world = call.world or matrix.world
        who = world.who[principal]
        values = {**DEFAULT_PARAMS, "organization": world.org, "repository": world.repo}
        kwargs: dict[str, Any] = {"params": call.query, "headers": who.headers}
        if call.body is not None:
            kwargs["json"] = call.body
        url = url_of(template, {**values, **call.params})
        response = client.request(method, url, **kwargs)
        client.cookies.clear()
        outcome = expected(action, who, call.resource)
        why = problem(outcome, response, method, world.org, entry)
        if why and entry.twin and outcome == "ok" and response.status_code == 404:
            twin_method, _, twin_template = entry.twin.partition(" ")
            twin_template = twin_template or template
            twin_handler = matrix.handlers[(twin_method, twin_template)]
            assert twin_handler.opt.get("action") == action.name
            twin_url = url_of(twin_template, {**values, **call.params})
            response = client.request(twin_method, twin_url, **kwargs)
            why = problem(outcome, response, twin_method, world.org, entry)
        if why:
            failures.append(
                f"{principal}: expected {outcome}, got {response.status_code} ({why}) "
                f"{response.text[:160]}"
            )
    assert failures == [], f"{method} {template} [{action.name}]:\n" + "\n".join(failures)
