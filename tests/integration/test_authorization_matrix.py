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

The table lives in `tests/authz_matrix_table.py`, the principals and their organization in
`tests/authz_matrix_setup.py`.

SQLite only by default; `TILDE_MATRIX_BACKENDS=sqlite,postgres` runs it on both.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute, WebSocketRoute
from litestar.testing import TestClient

from application.organizations.app import AGENT_FORBIDDEN_ACTIONS
from domain.shared.actions import ACTIONS, Action
from infra.bootstrap import bootstrap
from interfaces.http.app import create_app
from tests import services
from tests.authz_matrix_calls import Call, Entry
from tests.authz_matrix_setup import PRINCIPALS, Who, World, build_world
from tests.authz_matrix_table import (
    DEFAULT_PARAMS,
    ORG_ROUTES,
    PUBLIC_ROUTES,
    REPO_ROUTES,
    ROUTES,
    USER_ROUTES,
    WEBSOCKET_ROUTES,
)
from tests.conftest import FAST_HASHER, make_settings
from tests.orgs import create_org, person

BACKENDS = os.environ.get("TILDE_MATRIX_BACKENDS", "sqlite").split(",")

# Identity administration is for users and roles (an agent's own keys aside, see
# tests/integration/test_agent_identity_admin.py, which walks these routes as an agent).
AGENT_WRITES = frozenset(AGENT_FORBIDDEN_ACTIONS) - {"CreateAgentAPIKey"}
ORG_SCOPES = ("organization", "repository")


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


def expected(
    action: Action,
    who: Who,
    resource: dict[str, str],
    also: tuple[tuple[str, dict[str, str]], ...] = (),
) -> str:
    """'public', 'ok', '401', '403' or '404' (the organization is hidden); `also` lists
    further decisions the call needs (a copy must be allowed to read its source)."""
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
        return "403"  # agents never administer identities
    relevant = {k: v for k, v in resource.items() if k in action.resources}
    allowed = who.grants(action.name, relevant) and all(who.grants(a, r) for a, r in also)
    return "ok" if allowed else "403"


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
    assert websockets == sorted(WEBSOCKET_ROUTES), "WebSocket routes and WEBSOCKET_ROUTES differ"
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
    assert not who["agent_bare"].grants("ListMembers", {})
    assert not who["agent_orphan"].grants("ListMembers", {})
    assert who["agent_bare"].grants("GetOrganization", {})  # belonging is enough to read it
    assert not who["outsider"].grants("GetOrganization", {})
    repo = {"repository": "data"}
    assert who["role_deny"].grants("ListCommits", repo)  # implied by GetObject() on the root
    assert not who["role_paths"].grants("ListCommits", repo)  # not by GetObject(path="builds/*")
    inside = {"repository": "data", "path": "builds/a.txt"}
    outside = {"repository": "data", "path": "protected/p2.txt"}
    assert who["role_paths"].grants("PutObject", inside)
    assert not who["role_paths"].grants("PutObject", outside)
    assert not who["role_paths"].grants("ListObjects", {"repository": "data", "path": ""})
    assert who["role_deny"].grants("GetObject", inside)
    assert not who["role_deny"].grants("GetObject", outside)


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
    entry = ROUTES[route]
    failures = []
    for principal in PRINCIPALS:
        why = check_call(
            matrix, route, action, entry, principal, entry.build(matrix.world, principal)
        )
        if why:
            failures.append(why)
    assert failures == [], f"{method} {template} [{action.name}]:\n" + "\n".join(failures)


def check_call(
    matrix: Matrix, route: tuple[str, str], action: Action, entry: Entry, principal: str, call: Call
) -> str | None:
    """Make `call` as `principal`; why its answer is not the expected one, or None."""
    method, template = route
    client = matrix.client
    world = call.world or matrix.world
    who = world.who[principal]
    values = {**DEFAULT_PARAMS, "organization": world.org, "repository": world.repo}
    kwargs: dict[str, Any] = {"params": call.query, "headers": who.headers}
    if call.body is not None:
        kwargs["json"] = call.body
    url = url_of(template, {**values, **call.params})
    response = client.request(method, url, **kwargs)
    client.cookies.clear()
    outcome = expected(action, who, call.resource, call.also)
    why = problem(outcome, response, method, world.org, entry)
    if why and entry.twin and outcome == "ok" and response.status_code == 404:
        twin_method, _, twin_template = entry.twin.partition(" ")
        twin_template = twin_template or template
        twin_handler = matrix.handlers[(twin_method, twin_template)]
        assert twin_handler.opt.get("action") == action.name
        twin_url = url_of(twin_template, {**values, **call.params})
        response = client.request(twin_method, twin_url, **kwargs)
        why = problem(outcome, response, twin_method, world.org, entry)
    if not why:
        return None
    return (
        f"{principal} {call.query} {call.body}: expected {outcome}, "
        f"got {response.status_code} ({why}) {response.text[:160]}"
    )


# -- WebSocket routes: the upgrade request is refused with an HTTP answer, or accepted ----------


def upgrade(matrix: Matrix, url: str, headers: dict[str, str]) -> httpx.Response:
    """Ask for a WebSocket at `url` through the app, as a server offering ASGI's denial
    response would: the refusal as an HTTP response, or 101 once accepted (then we leave)."""
    path, _, query = url.partition("?")
    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "http_version": "1.1",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver.local")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver.local", 80),
        "subprotocols": [],
        "state": {},
        "extensions": {"websocket.http.response": {}},
    }
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with matrix.client.portal() as portal:
        portal.call(matrix.app, scope, receive, send)
    kinds = [m["type"] for m in sent]
    if "websocket.accept" in kinds:
        return httpx.Response(101)
    start = next(m for m in sent if m["type"] == "websocket.http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "websocket.http.response.body")
    headers_out = [(k.decode(), v.decode()) for k, v in start["headers"]]
    return httpx.Response(start["status"], headers=headers_out, content=body)


@pytest.mark.parametrize("template", sorted(WEBSOCKET_ROUTES))
def test_websocket_route_enforces_its_action_for_every_principal(
    matrix: Matrix, template: str
) -> None:
    handler = next(
        r.route_handler
        for r in matrix.app.routes
        if isinstance(r, WebSocketRoute) and r.path == template
    )
    action = ACTIONS[str(handler.opt.get("action"))]
    entry, failures = WEBSOCKET_ROUTES[template], []
    for principal in PRINCIPALS:
        call = entry.build(matrix.world, principal)
        world = call.world or matrix.world
        who = world.who[principal]
        values = {**DEFAULT_PARAMS, "organization": world.org, "repository": world.repo}
        response = upgrade(matrix, url_of(template, {**values, **call.params}), who.headers)
        outcome = expected(action, who, call.resource, call.also)
        if why := problem(outcome, response, "GET", world.org, entry):
            failures.append(
                f"{principal}: expected {outcome}, got {response.status_code} ({why}) "
                f"{response.text[:160]}"
            )
    assert failures == [], f"WS {template} [{action.name}]:\n" + "\n".join(failures)


# -- path-scoped routes, walked in and out of the principals' scopes -------------------------

OBJECT_PATHS = ("builds/a.txt", "protected/p2.txt", "public/x.csv", "other/c.txt")
PREFIXES = ("builds/", "protected/", "", "builds")
SCOPED = sorted(r for r, e in REPO_ROUTES.items() if e.scope is not None)


@pytest.mark.parametrize("route", SCOPED, ids=lambda r: f"{r[0]} {r[1]}")
def test_path_scoped_route_decides_on_the_path_it_acts_on(
    matrix: Matrix, route: tuple[str, str]
) -> None:
    entry, action = ROUTES[route], ACTIONS[str(matrix.handlers[route].opt.get("action"))]
    assert entry.scope is not None and "path" in action.resources
    failures = []
    for name in entry.scope.names():
        values = PREFIXES if entry.scope.prefix and name == entry.scope.param else OBJECT_PATHS
        for value in values:
            for principal in PRINCIPALS:
                call = entry.scope.place(entry.build(matrix.world, principal), name, value)
                why = check_call(matrix, route, action, entry, principal, call)
                if why:
                    failures.append(why)
    assert failures == [], f"{route[0]} {route[1]} [{action.name}]:\n" + "\n".join(failures)
