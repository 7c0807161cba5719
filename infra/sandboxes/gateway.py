"""The HTTP server a worker runs on one sandbox's gateway address: `GET /v1/credentials` (the
sandbox's token, COMPAT §5.9) and a relay of `/api/…` and `/_blob/…` to the API, so
`TILDE_API_URL` is an origin the sandbox can reach on its internal network.

It listens on that one address (never 0.0.0.0) and answers only peers inside the sandbox's
subnet other than the gateway itself: the socket a connection arrives on names the sandbox,
so another sandbox (on another network) cannot reach it at all. Bodies stream both ways; the
absolute URLs the API hands out for its own origin (307 `Location`s, `upload_url`s) are
rewritten to this origin so the SDK's downloads and presigned uploads work from inside."""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import structlog

from domain.shared.errors import DomainError

log = structlog.get_logger("tilde.sandboxes")

CREDENTIALS_PATH = "/v1/credentials"
CHUNK = 64 << 10
# An idle upstream connection is reused within this many seconds (uvicorn closes them after 5).
KEEP_UPSTREAM = 2.0
# Answers that may carry an `upload_url` (PUT /object, the multipart part URL) are small JSON.
REWRITE_MAX = 1 << 20
HOP_BY_HOP = frozenset(
    (
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "trailers", "transfer-encoding", "upgrade", "host", "content-length", "expect",
    )
)  # fmt: skip


@dataclass(frozen=True)
class Upstream:
    """An origin the relay forwards to, and the public base the API names it by."""

    prefix: str  # "/api/" or "/_blob/"
    origin: str  # e.g. http://127.0.0.1:8000
    public: str  # the same origin as the API writes it into URLs


class Relay:
    """Where a gateway forwards each path prefix, and how public URLs map back to it."""

    def __init__(self, upstreams: Sequence[Upstream], timeout: float = 3600.0) -> None:
        self.upstreams = list(upstreams)
        self.timeout = timeout

    def upstream(self, path: str) -> Upstream | None:
        for upstream in self.upstreams:
            if path.startswith(upstream.prefix):
                return upstream
        return None

    def rewrite(self, url: str, origin: str) -> str:
        """`url` on one of the API's public origins, moved to the gateway's `origin`."""
        for upstream in self.upstreams:
            base = upstream.public.rstrip("/")
            if url.startswith(base + upstream.prefix):
                return origin + url[len(base) :]
        return url

    def connect(self, upstream: Upstream) -> http.client.HTTPConnection:
        parts = urlsplit(upstream.origin)
        https = parts.scheme == "https"
        kind = http.client.HTTPSConnection if https else http.client.HTTPConnection
        conn = kind(parts.hostname or "", parts.port, timeout=self.timeout)
        conn.connect()
        _no_delay(conn.sock)
        return conn


# What the credentials endpoint answers for a sandbox: (status, JSON body).
Credentials = Callable[[str], tuple[int, Mapping[str, Any]]]


class GatewayServer(ThreadingHTTPServer):
    """One sandbox's endpoint on (gateway, port), serving on its own thread."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        sandbox_id: str,
        subnet: str,
        gateway: str,
        port: int,
        credentials: Credentials,
        relay: Relay,
    ) -> None:
        self.sandbox_id = sandbox_id
        self.subnet = ipaddress.ip_network(subnet, strict=False)
        self.gateway = ipaddress.ip_address(gateway)
        self.credentials = credentials
        self.relay = relay
        self.origin = f"http://{gateway}:{port}"
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        super().__init__((gateway, port), _Handler)
        self.thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"sandbox-gateway-{sandbox_id[:8]}",
            daemon=True,
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Stop listening and cut the connections still open (a relayed log stream)."""
        self.shutdown()
        self.server_close()
        with self._lock:
            open_ = list(self._connections)
        for conn in open_:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.thread.join(5)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """Only the sandbox's own container: a peer in its subnet, not the host's address."""
        try:
            peer = ipaddress.ip_address(client_address[0])
        except ValueError:
            return False
        return peer in self.subnet and peer != self.gateway

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: GatewayServer
    # An idle keep-alive connection is dropped after this many seconds.
    timeout = 120

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: request lines carry signed URLs (credentials) that must not reach logs."""

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == CREDENTIALS_PATH:
            self._credentials()
        else:
            self._relay()

    def _credentials(self) -> None:
        try:
            status, body = self.server.credentials(self.server.sandbox_id)
        except DomainError as e:
            status, body = 410, {"message": e.message, "code": e.code, "request_id": ""}
        except Exception:
            log.exception("sandbox_credentials_failed", sandbox=self.server.sandbox_id)
            status, body = (
                503,
                {
                    "message": "the credentials could not be issued; retry",
                    "code": "SERVICE_UNAVAILABLE",
                    "request_id": "",
                },
            )
        self._json(status, body, {"Cache-Control": "no-store"})

    def _json(
        self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = lambda self: self._relay()

    # -- relay ------------------------------------------------------------------------------
    def _relay(self) -> None:
        upstream = self.server.relay.upstream(self.path)
        if upstream is None:
            self._json(
                404,
                {
                    "message": "this endpoint serves /v1/credentials and relays /api/ only",
                    "code": "NOT_FOUND",
                    "request_id": "",
                },
            )
            return
        conn, reused = self._connection(upstream)
        kept = False
        try:
            try:
                self._forward_request(conn, upstream)
                response = conn.getresponse()
            except (ConnectionError, http.client.RemoteDisconnected):
                if not reused or self._has_body():
                    raise
                # The kept connection had timed out upstream: once more on a new one.
                conn.close()
                conn, reused = self.server.relay.connect(upstream), False
                self._forward_request(conn, upstream)
                response = conn.getresponse()
            self._forward_response(response)
            # Every byte was relayed; reading the (empty) rest marks the response done, so the
            # connection may carry the next request.
            done = response.read(1) == b""
            if done and not response.will_close and not self.close_connection:
                self._kept[upstream.origin] = (conn, time.monotonic())
                kept = True
        except (OSError, http.client.HTTPException) as e:
            if not self.wfile.closed:
                self.close_connection = True
                message = f"the API is unreachable from this worker: {type(e).__name__}"
                with contextlib.suppress(OSError):
                    self._json(502, {"message": message, "code": "BAD_GATEWAY", "request_id": ""})
        finally:
            if not kept:
                conn.close()

    def setup(self) -> None:
        super().setup()
        _no_delay(self.connection)
        # One upstream connection per origin, kept while this client keeps its own.
        self._kept: dict[str, tuple[http.client.HTTPConnection, float]] = {}

    def finish(self) -> None:
        for conn, _ in self._kept.values():
            conn.close()
        self._kept.clear()
        super().finish()

    def _connection(self, upstream: Upstream) -> tuple[http.client.HTTPConnection, bool]:
        kept = self._kept.pop(upstream.origin, None)
        if kept is not None:
            if time.monotonic() - kept[1] < KEEP_UPSTREAM:
                return kept[0], True
            kept[0].close()
        return self.server.relay.connect(upstream), False

    def _has_body(self) -> bool:
        length = self.headers.get("Content-Length", "0")
        return length not in ("", "0") or "Transfer-Encoding" in self.headers

    def _forward_request(self, conn: http.client.HTTPConnection, upstream: Upstream) -> None:
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", urlsplit(upstream.origin).netloc)
        for name, value in self.headers.items():
            if name.lower() not in HOP_BY_HOP:
                conn.putheader(name, value)
        length = self.headers.get("Content-Length")
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        elif length is not None:
            conn.putheader("Content-Length", length)
        conn.endheaders()
        if chunked:
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    conn.send(b"0\r\n\r\n")
                    return
                data = self.rfile.read(size)
                self.rfile.readline()
                conn.send(b"%x\r\n%s\r\n" % (len(data), data))
        remaining = int(length or 0)
        while remaining > 0:
            data = self.rfile.read(min(CHUNK, remaining))
            if not data:
                raise ConnectionError("the client closed the request body early")
            conn.send(data)
            remaining -= len(data)

    def _forward_response(self, response: http.client.HTTPResponse) -> None:
        origin = self.server.origin
        relay = self.server.relay
        headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
        headers = [
            (k, relay.rewrite(v, origin) if k.lower() == "location" else v) for k, v in headers
        ]
        body_allowed = self.command != "HEAD" and response.status >= 200
        body_allowed = body_allowed and response.status not in (204, 304)
        if body_allowed and _may_name_upload_url(self.path, response):
            data = _rewrite_upload_url(response.read(REWRITE_MAX + 1), relay, origin)
            self._start(response.status, headers, str(len(data)))
            self.wfile.write(data)
            return
        length = response.getheader("Content-Length")
        if not body_allowed:
            self._start(response.status, headers, length if self.command == "HEAD" else None)
            return
        if length is not None:
            self._start(response.status, headers, length)
            while data := response.read1(CHUNK):
                self.wfile.write(data)
            return
        # Unknown length (a live log stream): chunked, flushed as it arrives.
        self._start(response.status, [*headers, ("Transfer-Encoding", "chunked")], None)
        while data := response.read1(CHUNK):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _start(self, status: int, headers: list[tuple[str, str]], length: str | None) -> None:
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        if length is not None:
            self.send_header("Content-Length", length)
        self.end_headers()


def _may_name_upload_url(path: str, response: http.client.HTTPResponse) -> bool:
    route = path.split("?", 1)[0]
    length = int(response.getheader("Content-Length") or REWRITE_MAX + 1)
    return (
        route.endswith(("/object", "/object/multipart/part"))
        and (response.getheader("Content-Type") or "").startswith("application/json")
        and length <= REWRITE_MAX
    )


def _rewrite_upload_url(data: bytes, relay: Relay, origin: str) -> bytes:
    try:
        body = json.loads(data)
    except ValueError:
        return data
    if not isinstance(body, dict) or not isinstance(body.get("upload_url"), str):
        return data
    body["upload_url"] = relay.rewrite(body["upload_url"], origin)
    return json.dumps(body).encode()


def _no_delay(sock: Any) -> None:
    """Headers and body leave in separate writes: without this, Nagle's algorithm and the
    peer's delayed ACK hold the second one ~40 ms on a kept connection."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
