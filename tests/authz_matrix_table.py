"""The route table of the authorization matrix: how to call every route of the app.

`ROUTES` maps each route — `(METHOD, path template)` exactly as `create_app()` declares it —
to an `Entry`: how to build the call (path parameters, query, body, and the resource
attributes the guard will see) in a `World`, and what a public route may refuse by itself.
The builders live in `tests/authz_matrix_calls.py`; append rows here.
"""

from __future__ import annotations

from tests.authz_matrix_calls import (
    Call,
    Entry,
    Scope,
    agent_call,
    body,
    connector_call,
    group_call,
    keys_agent_call,
    listing,
    member_subject,
    named,
    obj,
    policy_call,
    query,
    repo,
    role_call,
)
from tests.authz_matrix_setup import World
from tests.builders import name
from tests.conftest import create_user

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
    ("GET", ORG + "/network-settings"): Entry(),
    ("PUT", ORG + "/network-settings"): Entry(lambda w, p: Call(body={"egress_default": "allow"})),
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
    ("GET", ORG + "/agents/{agent_name:str}/secrets"): Entry(agent_call(lambda w: w.owned_agent)),
    ("PUT", ORG + "/agents/{agent_name:str}/secrets/{secret_key:str}"): Entry(
        agent_call(lambda w: w.owned_agent, {"secret_key": "K"}, body={"value": "v"})
    ),
    ("GET", ORG + "/agents/{agent_name:str}/secrets/{secret_key:str}"): Entry(
        agent_call(lambda w: w.owned_agent, {"secret_key": "K"})
    ),
    ("DELETE", ORG + "/agents/{agent_name:str}/secrets/{secret_key:str}"): Entry(
        agent_call(lambda w: w.owned_agent, {"secret_key": "K"})
    ),
    ("POST", ORG + "/connectors"): Entry(
        named("connector", type="git", source_uri="s3://bucket/", config={})
    ),
    ("GET", ORG + "/connectors"): Entry(),
    ("POST", ORG + "/connectors:test"): Entry(
        lambda w, p: Call(
            body={"type": "git", "source_uri": "s3://bucket/", "config": {}},
            resource={"connector": ""},
        )
    ),
    ("GET", ORG + "/connectors/{connector_id:str}"): Entry(connector_call()),
    ("DELETE", ORG + "/connectors/{connector_id:str}"): Entry(connector_call()),
    ("POST", ORG + "/connectors/{connector_id:str}/test"): Entry(connector_call()),
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
    ("GET", REPO + "/changes"): listing(),
    ("GET", REPO + "/objects"): listing("public/"),
    ("POST", REPO + "/objects/delete"): repo("a", scope=Scope("paths")),
    ("GET", REPO + "/object"): obj("public/a.csv"),
    ("HEAD", REPO + "/object"): obj("private/a.csv", twin="GET"),
    ("PUT", REPO + "/object"): obj("raw/a.csv"),
    ("DELETE", REPO + "/object"): obj("raw/a.csv"),
    ("POST", REPO + "/object/copy"): repo(
        "b", scope=Scope("destination_path", reads="source_path"), query={"source_path": "a"}
    ),
    ("POST", REPO + "/object/finalize"): obj("raw/a.csv", body={}),
    ("POST", REPO + "/object/multipart"): obj("raw/a.csv"),
    ("DELETE", REPO + "/object/multipart"): obj("raw/a.csv"),
    ("GET", REPO + "/object/multipart/part"): obj("raw/a.csv"),
    ("POST", REPO + "/object/multipart/complete"): obj("raw/a.csv", body={}),
    ("GET", REPO + "/log"): repo(),
    ("GET", REPO + "/diff"): listing(),
    ("GET", REPO + "/commits/{commit_id:str}"): repo(),
    ("POST", REPO + "/commits/{commit_id:str}/revert"): repo(body={}),
    ("POST", REPO + "/sandbox-triggers"): repo(body={}),
    ("GET", REPO + "/sandbox-triggers"): repo(),
    ("GET", REPO + "/sandbox-triggers/{trigger_id:str}"): repo(),
    ("PUT", REPO + "/sandbox-triggers/{trigger_id:str}"): repo(body={}),
    ("PATCH", REPO + "/sandbox-triggers/{trigger_id:str}"): repo(body={"enabled": True}),
    ("DELETE", REPO + "/sandbox-triggers/{trigger_id:str}"): repo(),
    ("GET", REPO + "/sandbox-triggers/{trigger_id:str}/runs"): repo(),
    # No source named: the handler answers 400 once the guard lets the call through.
    ("POST", REPO + "/import"): repo(body={"destination_path": "x/"}),
    ("GET", REPO + "/import/{job_id:str}"): repo(),
    ("GET", REPO + "/secrets"): repo(),
    ("PUT", REPO + "/secrets/{secret_key:str}"): repo(body={"value": "v"}),
    ("GET", REPO + "/secrets/{secret_key:str}"): repo(),
    ("DELETE", REPO + "/secrets/{secret_key:str}"): repo(),
    ("GET", REPO + "/sandboxes/{sandbox_id:str}/logs/stdout"): repo(),
    ("GET", REPO + "/sandboxes/{sandbox_id:str}/combined"): repo(),
    ("GET", REPO + "/sandboxes/{sandbox_id:str}/logs/network"): repo(),
    ("POST", REPO + "/sandboxes"): repo(body={"image": "busybox"}),
    ("GET", REPO + "/sandboxes"): repo(),
    ("GET", REPO + "/sandboxes/{sandbox_id:str}"): repo(),
    ("GET", REPO + "/sandboxes/{sandbox_id:str}/status"): repo(),
    ("DELETE", REPO + "/sandboxes/{sandbox_id:str}"): repo(),
    ("POST", REPO + "/sandboxes/{sandbox_id:str}/finish"): repo(),
    ("POST", REPO + "/connectors"): repo(body={"connector_id": NOBODY}),
    ("GET", REPO + "/connectors"): repo(),
    ("DELETE", REPO + "/connectors/{connector_id:str}"): repo(connector_id=NOBODY),
}

# WebSocket routes, by path: refusals arrive as HTTP answers to the upgrade request.
WEBSOCKET_ROUTES: dict[str, Entry] = {
    REPO + "/sandboxes/{sandbox_id:str}/exec": repo(),
    REPO + "/sandboxes/{sandbox_id:str}/terminal": repo(),
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
    "job_id": NOBODY,
    "sandbox_id": NOBODY,
    "path": "nothing",
    "trigger_id": NOBODY,
    "secret_key": "API_KEY",
}
