"""Hot paths: the requests every object upload and read repeats, answered without Litestar's
per-request machinery when the steady case holds.

An SDK upload is three requests — `PUT …/object` (an upload URL), `PUT /_blob/u/{token}`
(the bytes) and `POST …/object/finalize` (staging) — and a read is `GET …/object` (a 307).
Through Litestar each pays for routing, a connection object and its state, the dependency
graph, the signature model and the response object: about as much CPU as the work itself.
Here each is one regular expression, the guard's decisions made from memory by the functions
the guard itself uses (`interfaces/http/auth.py`), the application call run on the event loop
where that is safe (`interfaces/http/hot_calls.py`) or on a thread, and a response with the
bytes Litestar would send.

Anything outside the steady case goes to Litestar, which answers as it always has:
- before the body is read: a credential that needs I/O (or is not a remembered Bearer key),
  an organization snapshot that is not current, a repeated or blank query parameter, a NUL,
  a repeated header, any error from the checks themselves (Litestar's guard raises it again
  and renders it);
- after the body is read: a body that is not what the fast path expects (larger than it
  takes, cut short, not a JSON object of the route's schema): Litestar gets the same ASGI
  messages replayed, so it sees the request exactly as it was sent.
Once the application call runs, its errors are rendered by the app's own exception handlers,
so the error body, status and headers are the ones every route answers with.
`tests/integration/test_hot_paths.py` sends the same requests through both paths and compares them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.handlers.base import BaseRouteHandler
from litestar.types import (
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)
from pydantic import ValidationError

from application.authz import OrgSnapshot
from application.nonblocking import waiting_allowed
from application.principal import Principal
from domain.catalog.paths import check_path
from domain.shared.actions import get_action
from domain.shared.errors import Invalid
from infra.localfs import LocalBlobStore
from infra.localfs.signing import UPLOAD
from interfaces.http.auth import check_allowed, remembered_bearer, remembered_member
from interfaces.http.body_limits import _NUL, too_deep
from interfaces.http.controllers.blobs import CHUNK
from interfaces.http.deps import settled
from interfaces.http.hot_calls import TEXT, Answer, HotCalls, SmallBody, Work
from interfaces.http.hot_requests import (
    Fallback,
    declared_length,
    header_of,
    query_of,
    receive_body,
    replaying,
)
from interfaces.http.resources import (
    ALSO_READS,
    BODY_RESOURCE,
    MULTI_VALUED,
    RESOURCE_PATH,
    RESOURCE_PREFIX,
)
from interfaces.http.schemas.catalog import FinalizeRequest
from interfaces.http.schemas.objects import StagedObject, UploadURL

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# A finalize body is a token and a few short fields; anything longer goes the general way.
MAX_HOT_JSON = 64 * 1024
API = "/api/v1/organizations/{organization}/repositories/{repository}"
_JSON = (b"content-type", b"application/json")
_encode = msgspec.json.Encoder().encode
# The actions the fast paths stand in for, as they decide them: (scope, policy attributes).
HOT_ACTIONS = {
    "PutObject": ("repository", ("repository", "path")),
    "GetObject": ("repository", ("repository", "path")),
    "TransferBlob": ("public", ()),
}
# Route options the guard reads; a hot route must declare none beyond the ones it handles.
GUARD_OPTIONS = (RESOURCE_PATH, RESOURCE_PREFIX, ALSO_READS, BODY_RESOURCE, MULTI_VALUED)
_decode = msgspec.json.Decoder().decode


@dataclass(frozen=True)
class Admitted:
    """The guard's decision for an object route: who, in which organization, on what."""

    principal: Principal
    org: OrgSnapshot
    repository: str
    path: str
    query: dict[str, str]


@dataclass(frozen=True)
class HotRoute:
    pattern: re.Pattern[str]
    template: str  # Litestar's `path_template` (the metrics' route label)
    handler: BaseRouteHandler  # the route it stands in for (its error rendering)
    run: Callable[[Scope, Receive, re.Match[str]], Awaitable[Work]]
    on_loop: bool  # with the embedded store, the call runs on the loop unless it would wait
    # With PostgreSQL, the call runs on the loop, its statements' waits awaited there
    # (`infra.sql.bridge`); one that writes finishes even if the request is cancelled.
    bridged: bool = False
    writes: bool = False
    # A small body's durable write: on the loop while the disk's fsyncs are quick (either
    # backend), else by the blob writer process (`HotCalls.answer`).
    disk: bool = False


def _length(body: bytes) -> tuple[bytes, bytes]:
    return (b"content-length", str(len(body)).encode())


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\{\w+\}", "([^/]+)", template))


def _required(value: str | None, name: str) -> str:
    if not value:
        raise Invalid(f"{name} is required")
    return value


class HotPaths:
    """The ASGI app `TildeLitestar` runs inside `observe`: the hot requests here, the rest
    (and every request outside the steady case) through Litestar."""

    def __init__(self, app: Litestar, litestar: ASGIApp) -> None:
        self.app = app
        self.litestar = litestar
        self.container: Any = app.state.container
        # Where each hot call runs (the loop, a greenlet on it, a thread) and the shared
        # log-watch check (`interfaces/http/hot_calls.py`).
        self.calls = HotCalls(self.container)
        declared = {
            (method, route.path_format): handler
            for route in app.routes
            for method, handler in getattr(route, "route_handler_map", {}).items()
        }

        def route(
            method: str,
            template: str,
            run: Any,
            action: str,
            on_loop: bool,
            bridged: bool = False,
            writes: bool = False,
            disk: bool = False,
            **opt: str,
        ) -> tuple[str, HotRoute]:
            """A fast path for the route `method template`; the server refuses to start if
            that route's declaration moved (another action, another resource parameter)."""
            found = declared.get((method, template))
            handler = found[0] if isinstance(found, tuple) else found
            declared_action = get_action(action)
            expected = HOT_ACTIONS.get(action)
            if (
                not isinstance(handler, BaseRouteHandler)
                or handler.opt.get("action") != action
                or any(handler.opt.get(key) != value for key, value in opt.items())
                or any(key in handler.opt for key in GUARD_OPTIONS if key not in opt)
                or declared_action is None
                or (declared_action.scope, tuple(declared_action.resources)) != expected
            ):
                raise RuntimeError(f"hot path {method} {template} no longer matches its route")
            return method, HotRoute(
                _pattern(template), template, handler, run, on_loop, bridged, writes, disk
            )

        self.routes: dict[str, list[HotRoute]] = {}
        # On the loop only with the local blob store: S3's and GCS's clients sign URLs with
        # credentials they may refresh over the network, and look blobs up over it.
        local = isinstance(self.container.blobs, LocalBlobStore)
        for method, hot in (
            route(
                "PUT",
                f"{API}/object",
                self._put_object,
                "PutObject",
                local,
                bridged=local,  # reads the repository and the session, writes nothing
                resource_path="path",
            ),
            # The bytes' write ends in fsyncs. It runs on the loop while the disk's fsyncs
            # are quick, on either backend: a hop to a thread cost more (the thread wins
            # the GIL back from the loop after each of its dozen system calls). On a slow
            # disk the blob writer process does it, so the loop is not stalled for every
            # request.
            route("PUT", "/_blob/u/{token}", self._upload, "TransferBlob", local, disk=local),
            route(
                "POST",
                f"{API}/object/finalize",
                self._finalize,
                "PutObject",
                local,
                bridged=local,  # reads, then one append (a group commit's, awaited)
                writes=True,
                resource_path="path",
            ),
            route(
                "GET",
                f"{API}/object",
                self._get_object,
                "GetObject",
                local,
                bridged=local,  # one read
                resource_path="path",
            ),
        ):
            self.routes.setdefault(method, []).append(hot)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._match(scope)
        if found is None:
            await self.litestar(scope, receive, send)
            return
        hot, match = found
        try:
            await self.calls.check_watch()
            work = await hot.run(scope, receive, match)
        except Fallback as fallback:
            await self.litestar(scope, replaying(fallback.messages, receive), send)
            return
        scope["path_template"] = hot.template
        scope["path_params"] = dict(
            zip(re.findall(r"\{(\w+)\}", hot.template), match.groups(), strict=True)
        )
        try:
            answer = await self.calls.answer(work, hot.on_loop, hot.bridged, hot.writes, hot.disk)
        except Exception as exc:
            await self._render(scope, receive, send, hot.handler, exc)
            return
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": answer.status,
            "headers": list(answer.headers),
        }
        await send(start)
        body: HTTPResponseBodyEvent = {
            "type": "http.response.body",
            "body": answer.body,
            "more_body": False,
        }
        await send(body)

    def close(self) -> None:
        self.calls.close()

    @property
    def on_loop(self) -> bool:
        return self.calls.on_loop

    @property
    def bridged(self) -> bool:
        return self.calls.bridged

    def _match(self, scope: Scope) -> tuple[HotRoute, re.Match[str]] | None:
        candidates = self.routes.get(str(scope.get("method", "")))
        if not candidates or scope.get("root_path"):
            return None
        path = scope.get("path", "")
        for hot in candidates:
            match = hot.pattern.fullmatch(path)
            if match is not None:
                return hot, match
        return None

    async def _render(
        self, scope: Scope, receive: Receive, send: Send, handler: BaseRouteHandler, exc: Exception
    ) -> None:
        """Answer `exc` exactly as Litestar's exception middleware would for `handler`."""
        scope["app"] = self.app
        scope["route_handler"] = handler  # type: ignore[typeddict-item,arg-type]
        request: Request[Any, Any, Any] = Request(scope, receive)
        render = None
        for kind in type(exc).__mro__:
            render = self.app.exception_handlers.get(kind)
            if render is not None:
                break
        if render is None:
            raise exc
        response = render(request, exc)  # type: ignore[arg-type]
        await response.to_asgi_response(app=None, request=request)(scope, receive, send)

    # -- the guard, from memory ------------------------------------------------------------
    def _admit(self, scope: Scope, match: re.Match[str], action: str) -> Admitted:
        """The guard's decision for an object route (`resource_path` "path"), or Fallback."""
        if "\x00" in scope.get("path", ""):
            raise Fallback
        query = query_of(scope)
        authorization = header_of(scope, b"authorization")
        principal = remembered_bearer(self.container, authorization or "")
        if principal is None or principal.via != "bearer":
            raise Fallback
        org_name, repository = match.group(1), match.group(2)
        try:
            snap = remembered_member(self.container, principal, org_name)
            if snap is None:
                raise Fallback
            path = check_path(query.get("path"), "path")
            check_allowed(snap, principal, action, {"repository": repository, "path": path})
        except Fallback:
            raise
        except Exception:
            raise Fallback from None  # the guard raises it again and renders it
        return Admitted(principal, snap, repository, path, query)

    # -- the routes: each admits on the loop and hands back the work for the thread ---------
    async def _put_object(
        self, scope: Scope, receive: Receive, match: re.Match[str]
    ) -> Callable[[], Answer]:
        admitted = self._admit(scope, match, "PutObject")

        def work() -> Answer:
            grant = self.container.catalog.start_upload(
                admitted.org.org_id,
                admitted.repository,
                _required(admitted.query.get("session_id"), "session_id"),
                admitted.path,
                admitted.principal,
            )
            body = _encode(UploadURL(upload_url=grant.upload_url, upload_token=grant.upload_token))
            return Answer(200, [_JSON, _length(body)], body)

        return work

    async def _finalize(self, scope: Scope, receive: Receive, match: re.Match[str]) -> Work:
        admitted = self._admit(scope, match, "PutObject")
        declared = declared_length(scope, MAX_HOT_JSON)
        media = (header_of(scope, b"content-type") or "application/json").partition(";")[0]
        if media.strip().lower() != "application/json":
            raise Fallback  # what Litestar makes of other types, Litestar answers
        body, messages = await receive_body(receive, declared)
        # What `check_json_body` and Litestar's decoding would refuse, Litestar refuses.
        if too_deep(body) or _NUL.search(body):
            raise Fallback(messages)
        try:
            data = FinalizeRequest.model_validate(_decode(body))
        except (msgspec.DecodeError, ValidationError):
            raise Fallback(messages) from None
        container = self.container

        def work() -> Answer | Callable[[], Answer]:
            result = container.catalog.finalize(
                admitted.org.org_id,
                admitted.repository,
                _required(admitted.query.get("session_id"), "session_id"),
                admitted.path,
                upload_token=data.upload_token,
                checksum=data.checksum,
                size_bytes=data.size_bytes,
                content_type=data.content_type,
                metadata=data.metadata,
                principal=admitted.principal,
            )

            def respond() -> Answer:
                out = _encode(StagedObject(**settled(container, result)))
                return Answer(201, [_JSON, _length(out)], out)

            # Read-your-writes may wait for a view: on the loop, that wait goes to a thread.
            if waiting_allowed() or not container.projections.would_wait(result.written):
                return respond()
            return respond

        return work

    async def _get_object(
        self, scope: Scope, receive: Receive, match: re.Match[str]
    ) -> Callable[[], Answer]:
        admitted = self._admit(scope, match, "GetObject")
        container = self.container

        def work() -> Answer:
            entry = container.catalog.queries.entry(
                admitted.org.org_id,
                admitted.repository,
                admitted.path,
                session_id=admitted.query.get("session_id"),
                ref=admitted.query.get("ref"),
            )
            url = container.blobs.download_url(
                entry["address"],
                expires_in=container.settings.download_url_ttl_seconds,
                content_type=entry["content_type"],
                etag=entry["etag"],
            )
            headers = [
                (b"location", url.encode("latin-1")),
                (b"cache-control", b"no-store"),
                TEXT,
                (b"content-length", b"0"),
            ]
            return Answer(307, headers)

        return work

    async def _upload(self, scope: Scope, receive: Receive, match: re.Match[str]) -> SmallBody:
        store = self.container.blobs
        if (
            not isinstance(store, LocalBlobStore)
            or scope.get("query_string")
            or "\x00" in scope.get("path", "")
        ):
            raise Fallback
        declared = declared_length(scope, CHUNK)
        try:  # the token first, before any body is read (as the route does)
            grant = store.verify(UPLOAD, match.group(1))
        except Exception:
            raise Fallback from None
        body, _ = await receive_body(receive, declared)
        return SmallBody(store, grant, body)
