"""The HTTP of the egress proxy: reading a proxy request's head, turning it into the
destination and the head sent upstream, and the proxy's own refusals."""

from __future__ import annotations

import asyncio
import socket
from typing import Any
from urllib.parse import urlsplit

HEAD_LIMIT = 64 * 1024
# Request headers meant for the proxy, not the upstream (and hop-by-hop ones we replace).
DROPPED = frozenset({"proxy-connection", "proxy-authorization", "connection", "keep-alive"})


class Refused(Exception):
    """A request the proxy answers itself (`status`, short reason)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def parse_request(head: bytes, entry: dict[str, Any]) -> tuple[str, str, int, bytes]:
    """(method, host, port, the head to send upstream) of a proxy request; fills `entry`."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise Refused(400, "malformed request line")
    method, target, _version = parts[0].upper(), parts[1], parts[2]
    entry["method"] = method
    if method == "CONNECT":
        entry["url"] = target
        host, _, port_text = target.rpartition(":")
        host = host.strip("[]")
        if not host or not port_text.isdigit():
            raise Refused(400, "CONNECT needs host:port")
        return method, host.lower(), int(port_text), b""
    url = urlsplit(target)
    if url.scheme != "http" or not url.hostname:
        raise Refused(400, "only absolute http:// URLs and CONNECT are proxied")
    try:
        port = url.port or 80
    except ValueError:
        raise Refused(400, "invalid port") from None
    host = url.hostname.lower()
    shown = f"[{host}]" if ":" in host else host
    path = url.path or "/"
    entry["url"] = f"http://{shown}:{port}{path}"  # no query string: it may carry tokens
    out = [f"{method} {path}{'?' + url.query if url.query else ''} HTTP/1.1"]
    for line in lines[1:]:
        if not line:
            continue
        name = line.split(":", 1)[0].strip().lower()
        if name not in DROPPED:
            out.append(line)
    out.append("Connection: close")
    return method, host, port, ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")


class NoHead(Exception):
    """The client closed or sent something that is not an HTTP head."""


async def read_head(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> tuple[bytes, bytes]:
    """(the request head, bytes received after it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > HEAD_LIMIT:
            raise NoHead
        more = await loop.sock_recv(conn, 16384)
        if not more:
            raise NoHead
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def refusal(refused: Refused) -> bytes:
    body = f"tilde egress proxy: {refused.reason}\n".encode()
    status = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}[refused.status]
    return (
        f"HTTP/1.1 {refused.status} {status}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
