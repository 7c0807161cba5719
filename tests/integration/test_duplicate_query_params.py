"""Security issue #8, finding 1: a repeated query parameter must not bypass a path-scoped policy.

The guard once took the first `path` and the handler the last, so a role allowed only
`builds/*` read and overwrote `protected/p2.txt` with `?path=builds/a.txt&path=protected/p2.txt`.
Now any repeated query parameter is a 400 before the guard decides, and the guard reads only
the parameter a route declares (its value is the one the handler gets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from domain.shared.actions import ACTIONS
from infra.bootstrap import Container
from interfaces.http.resources import ALSO_READS, RESOURCE_PATH, RESOURCE_PREFIX
from tests.builders import name
from tests.catalog_api import API, Api, check, md5_hex, open_org
from tests.conftest import bearer
from tests.orgs import assert_error

SCOPED_POLICY = """\
GetRepository()
CreateSession()
CommitSession()
GetObject(path="builds/*")
PutObject(path="builds/*")
DeleteObject(path="builds/*")
ListObjects(path="builds/*")
ListChanges(path="builds/*")
DiffCommits(path="builds/*")
"""
DENY_POLICY = """\
GetRepository()
CreateSession()
CommitSession()
GetObject()
PutObject()
ListObjects()
deny GetObject(path="protected/*")
deny PutObject(path="protected/*")
"""
# The value of each scoped parameter inside and outside `builds/*`.
ALLOWED = {
    "path": "builds/a.txt",
    "prefix": "builds/",
    "source_path": "builds/a.txt",
    "destination_path": "builds/copy.txt",
}
FORBIDDEN = {
    "path": "protected/p2.txt",
    "prefix": "protected/",
    "source_path": "protected/p2.txt",
    "destination_path": "protected/p2.txt",
}
SECRET = b"secret v1"
REPEATED = "is given more than once"


@dataclass
class Scene:
    """A repository holding `builds/a.txt` and `protected/p2.txt`, its owner and a role."""

    app: Litestar
    owner: Api
    role: Api
    repo: str

    def url(self, suffix: str = "") -> str:
        return f"{self.owner.repo_url(self.repo)}{suffix}"

    def protected_etag(self) -> str:
        response = check(self.owner.call("HEAD", self.url("/object"), params=PROTECTED), 200)
        return str(response.headers["etag"])

    def commit_ids(self) -> list[str]:
        return [c["id"] for c in self.owner.log(self.repo)]

    def staged(self, session_id: str) -> list[str]:
        response = self.owner.call("GET", self.url("/changes"), params={"session_id": session_id})
        return [r["path"] for r in check(response, 200).json()["results"]]


PROTECTED = {"path": "protected/p2.txt"}


def role_with(owner: Api, text: str) -> Api:
    """A role of the owner's organization granted `text`, acting through its own key."""
    base = f"{API}/organizations/{owner.org}"
    role = owner.call("POST", f"{base}/roles", json={"name": name("r-"), "description": "r"})
    role_body = check(role, 201).json()
    policy = owner.call(
        "POST",
        f"{base}/policies",
        json={"name": name("p-"), "policy_text": text, "description": "scoped"},
    )
    attached = owner.call(
        "POST",
        f"{base}/policies/{check(policy, 201).json()['id']}/attachments",
        json={"principal_type": "role", "principal_id": role_body["id"]},
    )
    check(attached, 201)
    key = owner.call("POST", f"{base}/roles/{role_body['name']}/auth/keys", json={"name": "k"})
    return Api(owner.http, bearer(check(key, 201).json()["token"]), owner.org)


def make_scene(client: TestClient[Any], container: Container, policy: str) -> Scene:
    owner = open_org(client, container)
    repo = name("r-")
    owner.create_repository(repo)
    session_id = owner.open_session(repo)
    owner.upload(repo, session_id, "builds/a.txt", b"build a")
    owner.upload(repo, session_id, "protected/p2.txt", SECRET)
    owner.commit_ok(repo, session_id, "seed")
    return Scene(client.app, owner, role_with(owner, policy), repo)


@pytest.fixture
def scene(client: TestClient[Any], container: Container) -> Scene:
    return make_scene(client, container, SCOPED_POLICY)


def path_scoped_routes(app: Litestar) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path template, opt) of every route whose action tests an object path."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            action = ACTIONS.get(str(handler.opt.get("action")))
            if action is None or "path" not in action.resources:
                continue
            for method in sorted(handler.http_methods - {"OPTIONS"}):
                found.append((method, route.path, dict(handler.opt)))
    return found


def scoped_names(opt: dict[str, Any]) -> list[str]:
    return [opt[k] for k in (RESOURCE_PATH, RESOURCE_PREFIX, ALSO_READS) if opt.get(k)]


def test_every_path_scoped_route_refuses_each_repeated_parameter(scene: Scene) -> None:
    before = (scene.protected_etag(), scene.commit_ids())
    session_id = scene.role.open_session(scene.repo)
    routes = path_scoped_routes(scene.app)
    walked = set()
    for method, template, opt in routes:
        url = template.replace("{organization:str}", scene.owner.org)
        url = url.replace("{repository:str}", scene.repo)
        names = scoped_names(opt)
        if not names:  # the paths arrive in the body (bulk delete): checked one by one there
            assert opt.get("body_resource") == "path", (method, template)
            continue
        walked.add((method, template))
        base = [("session_id", session_id)]
        inside = base + [(n, ALLOWED[n]) for n in names]
        # Control: inside the scope the guard lets it through, outside it refuses.
        response = scene.role.call(method, url, params=inside, json={}, follow_redirects=False)
        assert response.status_code not in (401, 403), (method, url, response.text)
        assert REPEATED not in response.text
        for n in names:
            outside = [(k, FORBIDDEN[n] if k == n else v) for k, v in inside]
            refused = scene.role.call(method, url, params=outside, json={})
            assert refused.status_code == 403, (method, url, n, refused.text)
            for first, second in ((ALLOWED[n], FORBIDDEN[n]), (FORBIDDEN[n], ALLOWED[n])):
                query = [(k, first if k == n else v) for k, v in inside] + [(n, second)]
                response = scene.role.call(
                    method, url, params=query, json={}, follow_redirects=False
                )
                assert response.status_code == 400, (method, url, query, response.text)
                assert "location" not in response.headers
                if method != "HEAD":
                    body = assert_error(response, 400, "BAD_REQUEST")
                    assert REPEATED in body["message"] and n in body["message"]
        # Any other parameter given twice is refused as well.
        twice = scene.role.call(method, url, params=[*inside, *base], json={})
        assert twice.status_code == 400, (method, url, twice.text)
    assert {m for m, t in walked if t.endswith("/object")} == {"GET", "HEAD", "PUT", "DELETE"}
    assert len(walked) >= 13, sorted(walked)  # object, multipart, copy, listings, diff
    # Nothing outside the scope was staged, committed or changed.
    assert all(p.startswith("builds/") for p in scene.staged(session_id))
    assert (scene.protected_etag(), scene.commit_ids()) == before


def test_the_issue_reproducers_are_refused(scene: Scene) -> None:
    role, before = scene.role, (scene.protected_etag(), scene.commit_ids())
    session_id = role.open_session(scene.repo)
    both = [("path", "builds/a.txt"), ("path", "protected/p2.txt")]
    where = [("session_id", session_id), *both]
    obj = scene.url("/object")

    read = role.call("GET", obj, params=both, follow_redirects=False)
    assert_error(read, 400, "BAD_REQUEST")
    assert "location" not in read.headers
    assert_error(role.call("PUT", obj, params=where), 400, "BAD_REQUEST")

    # Finalize: an upload started inside the scope cannot be finalized outside it.
    upload_url, token = role.start_upload(scene.repo, session_id, "builds/a.txt")
    role.put_bytes(upload_url, b"overwritten")
    finish = {"upload_token": token, "checksum": md5_hex(b"overwritten"), "size_bytes": 11}
    finalize = role.call("POST", f"{obj}/finalize", params=where, json=finish)
    assert_error(finalize, 400, "BAD_REQUEST")

    # Copy: the old guard tested `path` first, whatever the route wrote.
    copy = role.call(
        "POST",
        f"{obj}/copy",
        params={
            "session_id": session_id,
            "path": "builds/a.txt",
            "source_path": "builds/a.txt",
            "destination_path": "protected/p2.txt",
        },
    )
    assert_error(copy, 403, "FORBIDDEN")
    # …and a copy must not read what the role may not read.
    leak = role.call(
        "POST",
        f"{obj}/copy",
        params={
            "session_id": session_id,
            "source_path": "protected/p2.txt",
            "destination_path": "builds/leak.txt",
        },
    )
    assert_error(leak, 403, "FORBIDDEN")

    # A listing is authorized on its prefix, not on a `path` sent alongside.
    listing = role.call(
        "GET", scene.url("/objects"), params={"prefix": "protected/", "path": "builds/a.txt"}
    )
    assert_error(listing, 403, "FORBIDDEN")
    assert_error(role.call("GET", scene.url("/objects")), 403, "FORBIDDEN")  # no prefix: ""
    inside = check(role.call("GET", scene.url("/objects"), params={"prefix": "builds/"}), 200)
    assert [r["path"] for r in inside.json()["results"]] == ["builds/a.txt"]

    # The session commits only what the role could stage: the protected object is untouched.
    assert scene.staged(session_id) == []
    assert scene.protected_etag() == before[0]
    assert scene.commit_ids() == before[1]


def test_a_deny_line_cannot_be_bypassed_with_a_repeated_path(
    client: TestClient[Any], container: Container
) -> None:
    scene = make_scene(client, container, DENY_POLICY)
    role, obj = scene.role, scene.url("/object")
    before = scene.protected_etag()
    for order in (("builds/a.txt", "protected/p2.txt"), ("protected/p2.txt", "builds/a.txt")):
        params = [("path", order[0]), ("path", order[1])]
        response = role.call("GET", obj, params=params, follow_redirects=False)
        assert_error(response, 400, "BAD_REQUEST")
    assert_error(role.call("GET", obj, params=PROTECTED), 403, "FORBIDDEN")
    allowed = role.call("GET", obj, params={"path": "builds/a.txt"}, follow_redirects=False)
    assert allowed.status_code == 307, allowed.text

    session_id = role.open_session(scene.repo)
    for order in (("builds/b.txt", "protected/p2.txt"), ("protected/p2.txt", "builds/b.txt")):
        where = [("session_id", session_id), ("path", order[0]), ("path", order[1])]
        assert_error(role.call("PUT", obj, params=where), 400, "BAD_REQUEST")
    put = role.call("PUT", obj, params={"session_id": session_id, **PROTECTED})
    assert_error(put, 403, "FORBIDDEN")
    assert scene.staged(session_id) == []
    assert scene.protected_etag() == before
