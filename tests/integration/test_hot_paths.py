"""The hot paths (`interfaces/http/hot_paths.py`) answer exactly as Litestar does.

Every request here goes, as raw ASGI messages, to two apps over one container: the server's
app (hot paths in front of Litestar) and one built with `hot_paths=False`. The answers must
match byte for byte — status, headers, body — once the parts that differ by design are set
aside (the request id, and the random upload address and token a grant carries). A counter on
the fall-back app shows which requests the fast path answered itself, so the comparison cannot
silently pit Litestar against Litestar.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from litestar.testing import TestClient

from infra.bootstrap import Container, bootstrap
from interfaces.http.app import create_app
from interfaces.http.hot_calls import DiskOnLoop
from interfaces.http.hot_paths import HotPaths
from tests.catalog_helpers import Repo, md5, new_repo
from tests.conftest import FAST_HASHER, bearer
from tests.orgs import create_agent, create_principal_key, person

Messages = list[dict[str, Any]]


class Answer:
    def __init__(self, messages: Messages) -> None:
        start = next(m for m in messages if m["type"] == "http.response.start")
        self.status: int = start["status"]
        self.headers = [(k.decode(), v.decode()) for k, v in start["headers"]]
        self.body = b"".join(
            m.get("body", b"") for m in messages if m["type"] == "http.response.body"
        )

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def normalized(self) -> tuple[int, list[tuple[str, str]], bytes]:
        """The answer without its request id (random by design)."""
        rid = self.header("x-request-id") or "none"
        headers = sorted((k, v) for k, v in self.headers if k != "x-request-id")
        return self.status, headers, self.body.replace(rid.encode(), b"RID")


def call(app: Any, method: str, target: str, headers: dict[str, str], body: Messages) -> Answer:
    """One request to `app` as ASGI messages (`body`: the http.request/disconnect messages)."""
    return asyncio.run(acall(app, method, target, headers, body))


async def acall(
    app: Any, method: str, target: str, headers: dict[str, str], body: Messages
) -> Answer:
    """`call` on the running event loop."""
    parts = urlsplit(target)
    if body and "content-length" not in headers and "transfer-encoding" not in headers:
        headers = {**headers, "content-length": str(sum(len(m.get("body", b"")) for m in body))}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "server": ("testserver.local", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    pending = list(body) or [{"type": "http.request", "body": b"", "more_body": False}]
    sent: Messages = []

    answered = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await answered.wait()  # a real client hangs up once it has the answer
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            answered.set()

    await asyncio.wait_for(app(scope, receive, send), 30)
    return Answer(sent)


def whole(data: bytes) -> Messages:
    return [{"type": "http.request", "body": data, "more_body": False}]


def json_body(value: Any) -> Messages:
    return whole(json.dumps(value).encode())


class Pair:
    """The same request to the hot app and the reference app."""

    def __init__(self, container: Container) -> None:
        self.hot = create_app(container, run_background=False)
        self.reference = create_app(container, run_background=False, hot_paths=False)
        self.fallbacks = 0
        inner = self.hot.inner  # type: ignore[attr-defined]
        litestar = inner.litestar

        async def counted(scope: Any, receive: Any, send: Any) -> None:
            self.fallbacks += 1
            await litestar(scope, receive, send)

        inner.litestar = counted

    def both(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: Messages | None = None,
        *,
        hot: bool,
    ) -> tuple[Answer, Answer]:
        before = self.fallbacks
        fast = call(self.hot, method, target, headers, list(body or []))
        assert (self.fallbacks == before) is hot, (
            f"{method} {target}: expected the {'fast' if hot else 'general'} path"
        )
        return fast, call(self.reference, method, target, headers, list(body or []))

    def same(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: Messages | None = None,
        *,
        hot: bool,
    ) -> Answer:
        fast, reference = self.both(method, target, headers, body, hot=hot)
        assert fast.normalized() == reference.normalized()
        return fast


@pytest.fixture
def setup(container: Container, client: TestClient[Any]) -> Iterator[tuple[Pair, Repo, str]]:
    repo = new_repo(container, client)
    session = repo.open_session()
    pair = Pair(container)
    warm(container, pair, repo)
    yield pair, repo, session


def settle(container: Container) -> None:
    """Nothing left to make the fast path's caches stale later by itself: LISTEN in place (its
    connect drops every cache) and the saves so far seen by a head check (one that sees a
    log's head move drops the caches built on that log, even after the local save did)."""
    if container.listener is not None:
        assert container.listener.connected.wait(10), "LISTEN never came up"
    watch = container.authorizer.watch
    watch.moved()
    watch.current(())


def warm(container: Container, pair: Pair, repo: Repo) -> None:
    """`settle`, then the caches the fast path decides from made current for the owner (a key
    verified moments ago, a current organization snapshot: the first request of a key always
    goes the general way)."""
    settle(container)
    call(pair.hot, "GET", f"{repo.base}/objects", repo.auth, [])


def target(repo: Repo, suffix: str, **query: str) -> str:
    return f"{repo.base}{suffix}?{urlencode(query)}" if query else f"{repo.base}{suffix}"


def blob_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def grant(pair: Pair, repo: Repo, session: str, path: str) -> dict[str, str]:
    answer = call(
        pair.hot, "PUT", target(repo, "/object", path=path, session_id=session), repo.auth, []
    )
    assert answer.status == 200, answer.body
    return json.loads(answer.body)  # type: ignore[no-any-return]


def test_upload_round_trip_answers_as_litestar(setup: tuple[Pair, Repo, str]) -> None:
    pair, repo, session = setup
    data = b"hello, hot path\n" * 64
    answers = []
    for app in (pair.hot, pair.reference):
        before = pair.fallbacks
        put = call(
            app, "PUT", target(repo, "/object", path="d/a.txt", session_id=session), repo.auth, []
        )
        grant_ = json.loads(put.body)
        assert set(grant_) == {"upload_url", "upload_token"}
        upload = call(
            app,
            "PUT",
            blob_path(grant_["upload_url"]),
            {"content-length": str(len(data))},
            whole(data),
        )
        final = call(
            app,
            "POST",
            target(repo, "/object/finalize", path="d/a.txt", session_id=session),
            {**repo.auth, "content-type": "application/json"},
            json_body({"upload_token": grant_["upload_token"], "size_bytes": len(data)}),
        )
        if app is pair.hot:
            assert pair.fallbacks == before, "the round trip should take the fast paths"
        answers.append((put, upload, final))
    (hot_put, hot_upload, hot_final), (ref_put, ref_upload, ref_final) = answers
    # The grant differs by design (a fresh address and token); its framing must not.
    assert hot_put.status == ref_put.status == 200
    assert [k for k, _ in hot_put.headers] == [k for k, _ in ref_put.headers]
    assert hot_put.header("content-type") == ref_put.header("content-type")
    assert hot_upload.normalized() == ref_upload.normalized()
    assert hot_upload.header("etag") == f'"{md5(data)}"'
    assert hot_final.normalized() == ref_final.normalized()
    assert hot_final.status == 201
    assert json.loads(hot_final.body) == {"path": "d/a.txt", "etag": f'"{md5(data)}"'}
    # The staged object reads back through both.
    hot_get, ref_get = pair.both(
        "GET", target(repo, "/object", path="d/a.txt", session_id=session), repo.auth, hot=True
    )
    assert hot_get.status == ref_get.status == 307
    assert [k for k, _ in hot_get.headers] == [k for k, _ in ref_get.headers]
    assert [v for k, v in hot_get.headers if k != "location" and k != "x-request-id"] == [
        v for k, v in ref_get.headers if k != "location" and k != "x-request-id"
    ]
    location = hot_get.header("location") or ""
    fetched = call(pair.reference, "GET", blob_path(location), {}, [])
    assert fetched.status == 200 and fetched.body == data


def test_errors_from_the_application_call_match(setup: tuple[Pair, Repo, str]) -> None:
    pair, repo, session = setup
    auth = {**repo.auth, "content-type": "application/json"}
    # Answered by the fast path's call, rendered by the app's exception handlers.
    pair.same("PUT", target(repo, "/object", path="x"), repo.auth, hot=True)  # no session
    pair.same("PUT", target(repo, "/object", path="x", session_id="nope"), repo.auth, hot=True)
    pair.same("PUT", target(repo, "/object", path="x", session_id="0" * 32), repo.auth, hot=True)
    pair.same(
        "GET", target(repo, "/object", path="missing", session_id=session), repo.auth, hot=True
    )
    pair.same("GET", target(repo, "/object", path="missing", ref="main"), repo.auth, hot=True)
    pair.same("GET", target(repo, "/object", path="x", ref="no-such-ref"), repo.auth, hot=True)
    pair.same(
        "POST",
        target(repo, "/object/finalize", path="x", session_id=session),
        auth,
        json_body({"upload_token": "forged"}),
        hot=True,
    )
    token = grant(pair, repo, session, "y")["upload_token"]
    pair.same(
        "POST",
        target(repo, "/object/finalize", path="y", session_id=session),
        auth,
        json_body({"upload_token": token}),
        hot=True,
    )  # nothing uploaded yet
    # A token the store refuses: decided before the body is read, by the route itself.
    pair.same("PUT", "/_blob/u/forged-token", {"content-length": "3"}, whole(b"abc"), hot=False)
    # Another repository of the organization that does not exist: the call's NotFound.
    pair.same(
        "PUT",
        target(repo, "/object", path="x", session_id=session).replace(
            f"/repositories/{repo.name}/", "/repositories/nowhere/"
        ),
        repo.auth,
        hot=True,
    )


def test_size_and_checksum_refusals_match(setup: tuple[Pair, Repo, str]) -> None:
    pair, repo, session = setup
    auth = {**repo.auth, "content-type": "application/json"}
    data = b"0123456789"
    for body in (
        {"size_bytes": 11},
        {"checksum": '"0000"'},
        {"content_type": "not a type"},
        {"size_bytes": "10"},  # pydantic's lax mode coerces it in both
        {"metadata": {"k": "v"}, "extra": "ignored"},
    ):
        tokens = []
        for _ in range(2):
            g = grant(pair, repo, session, "z")
            up = call(
                pair.reference,
                "PUT",
                blob_path(g["upload_url"]),
                {"content-length": "10"},
                whole(data),
            )
            assert up.status == 200
            tokens.append(g["upload_token"])
        url = target(repo, "/object/finalize", path="z", session_id=session)
        fast = call(pair.hot, "POST", url, auth, json_body({"upload_token": tokens[0], **body}))
        reference = call(
            pair.reference, "POST", url, auth, json_body({"upload_token": tokens[1], **body})
        )
        assert fast.normalized() == reference.normalized(), body


def test_requests_outside_the_steady_case_fall_back(
    container: Container, setup: tuple[Pair, Repo, str]
) -> None:
    pair, repo, session = setup
    auth = {**repo.auth, "content-type": "application/json"}
    obj = "/object"
    # The guard's own refusals: Litestar raises and renders them.
    pair.same("PUT", target(repo, obj, path="a//b", session_id=session), repo.auth, hot=False)
    pair.same("PUT", target(repo, obj, path="", session_id=session), repo.auth, hot=False)
    pair.same("PUT", f"{repo.base}{obj}?path=a&path=b&session_id={session}", repo.auth, hot=False)
    pair.same("PUT", f"{repo.base}{obj}?path=a%00b&session_id={session}", repo.auth, hot=False)
    pair.same("PUT", target(repo, obj, path="a", session_id=session), {}, hot=False)
    pair.same(
        "PUT",
        target(repo, obj, path="a", session_id=session),
        {"authorization": "Bearer wrong"},
        hot=False,
    )
    pair.same(
        "PUT",
        target(repo, obj, path="a", session_id=session).replace(
            f"/organizations/{repo.org}/", "/organizations/nowhere/"
        ),
        repo.auth,
        hot=False,
    )
    stranger = person(container)
    for _ in range(2):  # the stranger's key is remembered after its first (general) request
        pair.same("PUT", target(repo, obj, path="a", session_id=session), stranger.auth, hot=False)
    warm(container, pair, repo)  # the stranger's sign-up moved the identity log
    # Bodies the fast path does not take, or that Litestar refuses: replayed to it as sent.
    url = target(repo, "/object/finalize", path="a", session_id=session)
    for body in (
        whole(b"not json"),
        whole(b"[1, 2]"),
        json_body({"upload_token": 5}),
        json_body({"checksum": "x"}),
        whole(b'{"upload_token": "a\\u0000b"}'),
        whole(b"[" * 100 + b"]" * 100),
    ):
        length = str(sum(len(m.get("body", b"")) for m in body))
        pair.same("POST", url, {**auth, "content-length": length}, body, hot=False)
    # A body in several messages is still the fast path's.
    split = [
        {"type": "http.request", "body": b'{"upload_', "more_body": True},
        {"type": "http.request", "body": b'token": "t"}', "more_body": False},
    ]
    pair.same("POST", url, auth, split, hot=True)
    # JSON with parameters in its media type is still JSON; another type goes the general way.
    for media, hot in (("application/json; charset=utf-8", True), ("text/plain", False)):
        pair.same(
            "POST",
            url,
            {**repo.auth, "content-type": media},
            json_body({"upload_token": "t"}),
            hot=hot,
        )
    # A form body, and no declared length at all (chunked): the general path.
    pair.same(
        "POST",
        url,
        {**repo.auth, "content-type": "application/x-www-form-urlencoded", "content-length": "7"},
        whole(b"a=b&c=d"),
        hot=False,
    )
    pair.same(
        "POST",
        url,
        {**auth, "transfer-encoding": "chunked"},
        json_body({"upload_token": "t"}),
        hot=False,
    )
    # Blob uploads: a body longer or shorter than declared, a repeated length, a query.
    g = grant(pair, repo, session, "b")
    path = blob_path(g["upload_url"])
    pair.same("PUT", path, {"content-length": "5"}, whole(b"abc"), hot=False)
    pair.same("PUT", path, {"content-length": "2"}, whole(b"abc"), hot=False)
    pair.same("PUT", path, {"content-length": "x"}, whole(b"abc"), hot=False)
    pair.same("PUT", f"{path}?x=1", {"content-length": "3"}, whole(b"abc"), hot=False)
    assert call(pair.hot, "PUT", path, {"content-length": "3"}, whole(b"abc")).status == 200


def test_a_forbidden_principal_gets_the_guards_answer(
    setup: tuple[Pair, Repo, str], client: TestClient[Any], container: Container
) -> None:
    """An agent whose policy allows reads only: its upload is refused by the guard (the fast
    path falls back to it) with the guard's 403; its reads take the fast path."""
    pair, repo, session = setup
    agent = create_agent(client, repo.owner, repo.org, inline_policy="GetObject()\nListObjects()")
    token = create_principal_key(client, repo.owner, repo.org, "agents", agent["name"])["token"]
    settle(container)  # the agent's and its key's saves moved the logs
    as_agent = bearer(token)
    url = target(repo, "/object", path="a", session_id=session)
    for _ in range(2):  # the key is remembered after its first (general) request
        answer = pair.same("PUT", url, as_agent, hot=False)
    assert answer.status == 403
    assert b'"code":"FORBIDDEN"' in answer.body
    answer = pair.same("GET", url, as_agent, hot=True)
    assert answer.status == 404


@pytest.mark.parametrize(
    ("option", "value"),
    [("action", "DeleteObject"), ("resource_path", "other"), ("also_reads", "source_path")],
)
def test_a_route_whose_declaration_moved_stops_the_server(
    container: Container, option: str, value: str
) -> None:
    """The fast path decides as the guard did for the route as declared when it was written:
    if that declaration changes (another action, another resource parameter, an extra read),
    building the app fails instead of authorizing by stale rules."""
    app = create_app(container, run_background=False, hot_paths=False)
    route = next(r for r in app.routes if r.path_format.endswith("/object"))
    handler = route.route_handler_map["PUT"]  # type: ignore[union-attr]
    handler = handler[0] if isinstance(handler, tuple) else handler
    handler.opt[option] = value
    with pytest.raises(RuntimeError, match="no longer matches its route"):
        HotPaths(app, app.inner)  # type: ignore[attr-defined]


def test_a_finalize_that_would_wait_leaves_the_loop_and_stages_once(
    setup: tuple[Pair, Repo, str], container: Container
) -> None:
    """Embedded SQLite runs the hot calls on the event loop. While another process holds the
    catalog's write lock, a finalize must not stall the loop: it stops before writing
    (`WouldBlock`), waits on a worker thread, and stages exactly once when the lock frees;
    meanwhile a GET on the same loop is answered."""
    if container.settings.is_postgres:
        pytest.skip("PostgreSQL: calls suspend on the loop instead (the test below)")
    pair, repo, session = setup
    assert pair.hot.inner.on_loop  # type: ignore[attr-defined]
    data = b"waits for the lock\n"
    staged = grant(pair, repo, session, "w/first.txt")
    upload = call(
        pair.hot, "PUT", blob_path(staged["upload_url"]),
        {"content-length": str(len(data))}, whole(data),
    )  # fmt: skip
    assert upload.status == 200
    repo.upload(session, "w/readable.txt", b"already staged")
    lock = sqlite3.connect(container.settings.data_dir / "events" / "catalog.sqlite")
    lock.isolation_level = None
    finalize = target(repo, "/object/finalize", path="w/first.txt", session_id=session)
    headers = {**repo.auth, "content-type": "application/json"}
    body = json_body({"upload_token": staged["upload_token"], "size_bytes": len(data)})

    async def scenario() -> tuple[Answer, Answer, bool]:
        lock.execute("BEGIN IMMEDIATE")
        try:
            pending = asyncio.ensure_future(acall(pair.hot, "POST", finalize, headers, body))
            read = await acall(
                pair.hot, "GET", target(repo, "/object", path="w/readable.txt",
                session_id=session), repo.auth, [],
            )  # fmt: skip
            await asyncio.sleep(0.3)
            waited = not pending.done()
        finally:
            lock.execute("ROLLBACK")
        return await pending, read, waited

    catalog = container.applications["catalog"]
    head = catalog.recorder.max_notification_id() or 0
    before = pair.fallbacks
    final, read, waited = asyncio.run(scenario())
    assert pair.fallbacks == before  # both answered by the fast paths
    assert read.status == 307  # the loop kept answering while the finalize waited
    assert waited, "the finalize should wait for the lock (on a thread)"
    assert final.status == 201, final.body
    assert json.loads(final.body) == {"path": "w/first.txt", "etag": f'"{md5(data)}"'}
    assert repo.read("w/first.txt", session_id=session) == data
    # Staged once: the refused attempt on the loop appended nothing; the thread's save is
    # one staging (with the shard it opens, when the path's shard is new to the session).
    appended = [n.topic for n in catalog.recorder.select_notifications(start=head + 1, limit=100)]
    staged_events = [t for t in appended if t.endswith("StagingShard.Staged")]
    assert len(staged_events) == 1 and len(set(appended)) == len(appended), appended


def test_a_due_head_check_keeps_the_fast_path_and_sees_another_processs_revocation(
    setup: tuple[Pair, Repo, str], container: Container
) -> None:
    """When the log watch's head check is due, the fast path runs that check (once, on a
    thread) instead of sending every request the general way; and the check is real: a key
    revoked by another process (another container on the same store, so no local event or
    NOTIFY reached this one) is refused at the next request after it is due."""
    pair, repo, session = setup
    url = target(repo, "/object", path="missing", session_id=session)
    watch = container.authorizer.watch
    pair.same("GET", url, repo.auth, hot=True)
    watch._checked_at = -math.inf  # due now, nothing moved
    answer = pair.same("GET", url, repo.auth, hot=True)
    assert answer.status == 404
    assert watch.current_without_io(()) is not None  # the fast path ran the check

    other = bootstrap(container.settings, hasher=FAST_HASHER)
    try:
        principal = other.identity.authenticate_bearer(repo.owner.token)
        assert principal is not None
        other.identity.revoke_api_key(
            principal.key_id, owner_type="user", owner_id=principal.id, actor=principal.actor
        )
    finally:
        other.close()
    watch._checked_at = -math.inf  # the interval passed
    before = pair.fallbacks
    refused = call(pair.hot, "GET", url, repo.auth, [])
    assert refused.status == 401, refused.body
    assert pair.fallbacks == before + 1  # stale key: the general path answered


def count_hops(container: Container) -> list[Any]:
    """From now on, every hop to a worker thread on the running loop, appended to the list
    returned. The log watch's head check, when it falls due meanwhile, is a hop by design
    (one shared check, `HotCalls.check_watch`) and is not counted."""
    loop = asyncio.get_running_loop()
    real = loop.run_in_executor
    watch = container.authorizer.watch
    hops: list[Any] = []

    def counted(*args: Any) -> Any:
        if getattr(args[1], "__self__", None) is not watch:
            hops.append(args[1])
        return real(*args)

    loop.run_in_executor = counted  # type: ignore[method-assign]
    return hops


def test_postgres_hot_calls_run_on_the_loop_and_concurrent_finalizes_stage_each_once(
    setup: tuple[Pair, Repo, str], container: Container
) -> None:
    """With PostgreSQL, PUT object, finalize and GET run on the event loop
    (`infra.sql.bridge`): no hop to a worker thread (only the bytes' upload takes one, and the
    log watch's head check when it falls due). Many
    finalizes at once on the one loop share group commits and each stages exactly once."""
    if not container.settings.is_postgres:
        pytest.skip("embedded SQLite: covered by the test above")
    pair, repo, session = setup
    hot = pair.hot.inner  # type: ignore[attr-defined]
    assert hot.bridged and not hot.on_loop
    paths = [f"c/{i:02d}.txt" for i in range(12)]
    grants = {p: grant(pair, repo, session, p) for p in paths}
    for p in paths:
        data = p.encode()
        upload = call(
            pair.hot, "PUT", blob_path(grants[p]["upload_url"]),
            {"content-length": str(len(data))}, whole(data),
        )  # fmt: skip
        assert upload.status == 200
    headers = {**repo.auth, "content-type": "application/json"}
    catalog = container.applications["catalog"]
    head = catalog.recorder.max_notification_id() or 0

    async def scenario() -> tuple[list[Answer], Answer, Answer, int]:
        hops = count_hops(container)

        def finalize(p: str) -> Any:
            url = target(repo, "/object/finalize", path=p, session_id=session)
            body = json_body({"upload_token": grants[p]["upload_token"]})
            return acall(pair.hot, "POST", url, headers, body)

        finals = await asyncio.gather(*(finalize(p) for p in paths))
        put = await acall(
            pair.hot, "PUT", target(repo, "/object", path="c/next.txt", session_id=session),
            repo.auth, [],
        )  # fmt: skip
        read = await acall(
            pair.hot, "GET", target(repo, "/object", path=paths[0], session_id=session),
            repo.auth, [],
        )  # fmt: skip
        return list(finals), put, read, len(hops)

    before = pair.fallbacks
    finals, put, read, hops = asyncio.run(scenario())
    assert pair.fallbacks == before
    assert [f.status for f in finals] == [201] * len(paths), [f.body for f in finals]
    assert put.status == 200 and read.status == 307
    assert hops == 0, f"{hops} hops to a worker thread"
    for p in paths:
        assert repo.read(p, session_id=session) == p.encode()
    appended = [n.topic for n in catalog.recorder.select_notifications(start=head + 1, limit=500)]
    staged = [t for t in appended if t.endswith("StagingShard.Staged")]
    assert len(staged) <= len(paths)  # one per finalize at most (a batch may carry several)


def test_a_small_upload_is_written_on_the_loop_while_the_disk_is_quick(
    setup: tuple[Pair, Repo, str], container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes' write ends in fsyncs. On either backend it runs on the event loop while the
    disk's fsyncs are quick; once the disk is slow, the blob writer process does it, so the
    loop is not stalled for every request; a probe on the loop brings the writes back when
    the disk is quick again. No thread hop either way; the blob is stored each time."""
    pair, repo, session = setup
    clock = [1000.0]
    disk = DiskOnLoop(limit=0.002, probe_every=0.25, clock=lambda: clock[0])
    calls = pair.hot.inner.calls  # type: ignore[attr-defined]
    calls.disk = disk
    sent_away: list[str] = []
    real_store = calls.writer.store

    async def to_writer(grant_: Any, body: bytes) -> Any:
        sent_away.append(grant_.address)
        return await real_store(grant_, body)

    monkeypatch.setattr(calls.writer, "store", to_writer)
    # What the loop measured of each write; while the test models a quick disk, the policy
    # is told 0.3 ms whatever this machine's disk took.
    measured: list[float] = []
    modelled: list[float] = []
    real_took = disk.took

    def took(seconds: float) -> None:
        measured.append(seconds)
        real_took(modelled[0] if modelled else seconds)

    monkeypatch.setattr(disk, "took", took)
    store = container.blobs
    quick = store.store
    slow_for = [0.0]

    def timed_store(grant: Any, body: bytes) -> Any:
        time.sleep(slow_for[0])  # a disk whose fsyncs take this long
        return quick(grant, body)

    monkeypatch.setattr(store, "store", timed_store)

    def upload(name: str) -> str:
        staged = grant(pair, repo, session, name)
        data = f"small body {name}\n".encode()

        async def scenario() -> tuple[Answer, int]:
            hops = count_hops(container)
            answer = await acall(
                pair.hot, "PUT", blob_path(staged["upload_url"]),
                {"content-length": str(len(data))}, whole(data),
            )  # fmt: skip
            return answer, len(hops)

        before = pair.fallbacks
        on_loop, away = len(measured), len(sent_away)
        answer, hops = asyncio.run(scenario())
        assert hops == 0
        where = {(1, 0): "loop", (0, 1): "writer"}[(len(measured) - on_loop, len(sent_away) - away)]
        assert pair.fallbacks == before
        assert answer.status == 200
        assert answer.header("etag") == f'"{md5(data)}"'
        body = {"upload_token": staged["upload_token"]}
        finalized = repo.finalize(session, name, body)
        assert finalized.status_code == 201, finalized.text
        assert repo.read(name, session_id=session) == data
        return where

    modelled.append(0.0003)
    assert upload("u/quick.txt") == "loop"
    modelled.clear()
    slow_for[0] = 0.02
    on_loop = 0
    while upload(f"u/slowing{on_loop}.txt") == "loop":
        on_loop += 1
        assert on_loop < 10
    assert 1 <= on_loop <= 3  # a few slow writes on the loop, then the writer process
    assert len(measured) == 1 + on_loop and min(measured[1:]) >= 0.02  # as long as they took
    assert upload("u/slow.txt") == "writer"  # no probe due yet
    slow_for[0] = 0.0
    modelled.append(0.0003)
    probes = 0
    while (where := upload(f"u/probe{probes}.txt")) == "writer" or disk.average > disk.limit:
        clock[0] += 0.25  # the next probe falls due
        probes += where == "loop"
        assert probes < 10
    assert upload("u/quick-again.txt") == "loop"


def test_on_a_slow_disk_the_writer_process_writes_and_the_loop_goes_on(
    setup: tuple[Pair, Repo, str], container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the disk slow, the blob writer process makes the bytes durable and the loop
    awaits its answer: no thread hop, and while the child is stopped (a hung fsync) the loop
    goes on serving. A child that died fails over to a thread for that write, and a new one
    takes the writes after. Each blob is stored and reads back."""
    pair, repo, session = setup
    calls = pair.hot.inner.calls  # type: ignore[attr-defined]
    monkeypatch.setattr(calls.disk, "here", lambda: False)  # the disk is slow
    writer = calls.writer
    assert writer is not None
    writer.retry_after = 0.0

    def upload(name: str, stall: Any = None) -> tuple[int, Any]:
        staged = grant(pair, repo, session, name)
        data = f"small body {name}\n".encode()

        async def scenario() -> tuple[Answer, int, Any]:
            hops = count_hops(container)
            put = acall(
                pair.hot, "PUT", blob_path(staged["upload_url"]),
                {"content-length": str(len(data))}, whole(data),
            )  # fmt: skip
            if stall is None:
                return await put, len(hops), None
            os.kill(stall.pid, signal.SIGSTOP)  # the child hangs (an fsync that does not end)
            try:
                sent = asyncio.ensure_future(put)
                ticks = 0
                for _ in range(20):  # the loop goes on meanwhile
                    await asyncio.sleep(0.01)
                    ticks += 1
                waiting = not sent.done()
            finally:
                os.kill(stall.pid, signal.SIGCONT)
            return await sent, len(hops), (ticks, waiting)

        before = pair.fallbacks
        answer, hops, seen = asyncio.run(scenario())
        assert pair.fallbacks == before
        assert answer.status == 200, answer.body
        assert answer.header("etag") == f'"{md5(data)}"'
        finalized = repo.finalize(session, name, {"upload_token": staged["upload_token"]})
        assert finalized.status_code == 201, finalized.text
        assert repo.read(name, session_id=session) == data
        return hops, seen

    assert upload("u/first.txt")[0] == 0
    child = writer.proc
    assert child is not None and child.poll() is None
    assert upload("u/stalled.txt", child) == (0, (20, True))
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    assert upload("u/after-the-child.txt")[0] == 1  # that one on a thread
    assert upload("u/new-child.txt")[0] == 0
    assert writer.proc is not child and writer.proc.poll() is None


def test_with_a_remote_blob_store_the_calls_stay_off_the_loop(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3's client looks blobs up over the network (finalize) and may refresh credentials
    over it while signing URLs: with a remote store no hot call runs on the event loop."""
    from infra.s3 import S3BlobStore

    store = S3BlobStore("bucket", "", "http://127.0.0.1:9", "us-east-1", "k", "s")
    monkeypatch.setattr(container, "blobs", store)
    hot = create_app(container, run_background=False).inner  # type: ignore[attr-defined]
    routes = [r for rs in hot.routes.values() for r in rs]
    assert {r.template.rsplit("/", 1)[-1] for r in routes} >= {"object", "finalize"}
    assert not any(r.on_loop or r.bridged for r in routes)
    monkeypatch.undo()
    local = create_app(container, run_background=False).inner  # type: ignore[attr-defined]
    on_loop = {r.template.rsplit("/", 1)[-1] for rs in local.routes.values() for r in rs
               if r.on_loop and r.bridged}  # fmt: skip
    assert on_loop == {"object", "finalize"}
