"""The egress proxy's connection handling on loopback (no Docker; its gateway is 127.0.0.2 and
its "sandbox subnet" 127.0.0.0/30): request bodies reach the upstream before it answers,
clients from outside the subnet get nothing, and closing the sandbox ends its open tunnels,
flushes its log lines and closes its network log."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from application.sandboxes.ports import SandboxNetwork
from domain.sandboxes.egress import EgressRequest, Verdict
from infra.sandboxes.egress_proxy import EgressProxy
from infra.sandboxes.logs import SqlLogStore
from infra.sql.database import SqliteDatabase
from tests.services import free_port

GATEWAY = "127.0.0.2"
UPSTREAM = "127.0.0.3"


class Echo(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = f"got {len(body)} {body[:5].decode()}".encode()
        self.send_response(201)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


class LoopbackUpstream:
    """Only the test's own upstream passes (the real baseline refuses loopback)."""

    def check_address(self, address: object) -> str:
        return "" if str(address) == UPSTREAM else "loopback"


@pytest.fixture
def upstream() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer((UPSTREAM, 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def recv_all(sock: socket.socket) -> bytes:
    chunks = []
    while data := sock.recv(65536):
        chunks.append(data)
    return b"".join(chunks)


def test_bodies_peers_and_closing(tmp_path: Path, upstream: int) -> None:
    store = SqlLogStore(SqliteDatabase(tmp_path / "n.db"), retention_seconds=60, kind="network")

    def judge(sandbox_id: str, request: EgressRequest) -> Verdict:
        return Verdict(True, "public destination")

    port = free_port()
    proxy = EgressProxy(port=port, addresses=LoopbackUpstream, judge=judge, logs=store)  # type: ignore[arg-type]
    network = SandboxNetwork("n", "127.0.0.0/30", GATEWAY)
    try:
        proxy.open("s", network)
        proxy.open("s", network)  # a re-attached run opens again: no second listener
        body = b"hello" * 100_000
        with socket.create_connection((GATEWAY, port), source_address=("127.0.0.1", 0)) as c:
            c.sendall(
                f"POST http://{UPSTREAM}:{upstream}/up HTTP/1.1\r\nHost: x\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            answer = recv_all(c)
        assert answer.startswith(b"HTTP/1.0 201") and answer.endswith(b"got 500000 hello")

        # Outside the sandbox's subnet: closed without a word (a reset: nothing was read).
        with socket.create_connection((GATEWAY, port), source_address=("127.0.0.5", 0)) as c:
            c.sendall(b"CONNECT a.test:443 HTTP/1.1\r\n\r\n")
            with contextlib.suppress(ConnectionResetError):
                assert recv_all(c) == b""

        tunnel = socket.create_connection((GATEWAY, port), source_address=("127.0.0.1", 0))
        tunnel.sendall(f"CONNECT {UPSTREAM}:{upstream} HTTP/1.1\r\n\r\n".encode())
        assert tunnel.recv(100).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        proxy.close("s")  # the sandbox ended: its idle tunnel ends with it
        assert time.monotonic() - started < 5
        tunnel.settimeout(5)
        assert recv_all(tunnel) == b""
        tunnel.close()
        with pytest.raises(OSError):
            socket.create_connection((GATEWAY, port), timeout=2)
    finally:
        proxy.shutdown()
    chunks, closed = store.read("s", 0)
    lines = b"".join(data for _, data in chunks).decode().splitlines()
    assert closed and len(lines) == 2
    assert '"status":201' in lines[0] and '"bytes_out":' in lines[0]
    assert '"method":"CONNECT"' in lines[1] and '"decision":"allow"' in lines[1]
