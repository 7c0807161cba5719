"""The sandbox gateway's HTTP relay against an upstream on loopback (no Docker): bodies stream
both ways (chunked in, unknown length out), `Authorization` is kept and `Host` is the
upstream's, the API's own URLs come back on the gateway's origin, and only peers of the
sandbox's subnet other than the gateway are answered."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from infra.sandboxes.gateway import GatewayServer, Relay, Upstream

PUBLIC = "https://tilde.example.com"


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_PUT(self) -> None:
        body = b""
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            while size := int(self.rfile.readline().strip(), 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers["Content-Length"]))
        seen = {
            "len": len(body),
            "auth": self.headers["Authorization"],
            "host": self.headers["Host"],
        }
        self._send(200, json.dumps(seen).encode(), [("Content-Type", "application/json")])

    def do_GET(self) -> None:
        if self.path.endswith("/object?path=a"):
            self._send(307, b"", [("Location", f"{PUBLIC}/_blob/d/tok?x=1")])
        elif self.path.startswith("/api/v1/x/object"):
            body = json.dumps({"upload_url": f"{PUBLIC}/_blob/u/tok", "upload_token": "t"})
            self._send(200, body.encode(), [("Content-Type", "application/json")])
        else:  # a live stream: no length, ended by closing
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for i in range(3):
                self.wfile.write(b"line %d\n" % i)
                self.wfile.flush()

    def _send(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@pytest.fixture
def gateway() -> Iterator[GatewayServer]:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{upstream.server_address[1]}"
    relay = Relay([Upstream("/api/", origin, PUBLIC), Upstream("/_blob/", origin, PUBLIC)])
    # 127.0.0.2 plays the gateway; the client's 127.0.0.1 is a peer in the "subnet".
    server = GatewayServer(
        "sbx", "127.0.0.0/8", "127.0.0.2", free_port("127.0.0.2"),
        lambda sid: (200, {"access_token": "tst-x", "sandbox": sid}), relay,
    )  # fmt: skip
    server.start()
    yield server
    server.stop()
    upstream.shutdown()
    upstream.server_close()


def conn(server: GatewayServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(*server.server_address[:2], timeout=5)


def test_relay_streams_keeps_authorization_and_moves_public_urls(gateway: GatewayServer) -> None:
    c = conn(gateway)
    c.request("GET", "/v1/credentials")
    answer = c.getresponse()
    assert answer.status == 200 and answer.getheader("Cache-Control") == "no-store"
    assert json.loads(answer.read()) == {"access_token": "tst-x", "sandbox": "sbx"}
    # A chunked upload of unknown length arrives whole, on the same keep-alive connection.
    chunks = iter([b"a" * 70_000, b"b" * 5])
    c.request("PUT", "/_blob/u/tok", body=chunks, headers={"Authorization": "Bearer k"})
    seen = json.loads(c.getresponse().read())
    assert seen["len"] == 70_005 and seen["auth"] == "Bearer k"
    assert seen["host"].startswith("127.0.0.1:")
    c.request("GET", "/api/v1/x/object?path=a")
    moved = c.getresponse()
    moved.read()
    assert (moved.status, moved.getheader("Location")) == (307, gateway.origin + "/_blob/d/tok?x=1")
    c.request("GET", "/api/v1/x/object")
    assert json.loads(c.getresponse().read())["upload_url"] == gateway.origin + "/_blob/u/tok"
    c.request("GET", "/api/v1/x/logs")
    streamed = c.getresponse()
    assert streamed.getheader("Transfer-Encoding") == "chunked"
    assert streamed.read() == b"line 0\nline 1\nline 2\n"
    c.request("GET", "/console")
    assert c.getresponse().status == 404


def test_only_peers_of_the_sandbox_subnet_other_than_the_gateway_are_answered(
    gateway: GatewayServer,
) -> None:
    host, port = gateway.server_address[:2]
    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))  # the gateway address itself, as the host would connect
        s.connect((host, port))
        s.sendall(b"GET /v1/credentials HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(1) == b""
    outsider = GatewayServer(
        "other", "10.9.9.0/28", "127.0.0.3", free_port("127.0.0.3"),
        lambda sid: (200, {}), gateway.relay,
    )  # fmt: skip
    outsider.start()
    try:
        with socket.create_connection(outsider.server_address[:2], timeout=5) as s:
            s.sendall(b"GET /v1/credentials HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(1) == b""
    finally:
        outsider.stop()
