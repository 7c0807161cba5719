"""The egress proxy: an HTTP(S) forward proxy on each sandbox network's gateway, the only way
out of a sandbox.

One asyncio loop (a thread of the worker) serves every sandbox of the process: `open` binds
`gateway:port` of that sandbox's network (never 0.0.0.0) and accepts only peers from its
subnet, `close` unbinds it, drops its connections and closes its network log. A request is
`CONNECT host:port` (a TLS tunnel) or an absolute-form `GET http://host/…` (forwarded with
`Connection: close`, one request per client connection). Each is judged by the network
policies (`judge`, cached by the caller), then the destination is resolved once (a name the
operator pinned, `hosts`, without DNS), every address is checked against the baseline
(`AddressPolicy`), and the proxy connects to an address that passed — a hostname that later
resolves elsewhere changes nothing. A refused request gets `403` with a short reason. Every
request becomes one NDJSON line of the sandbox's network log (no bodies, no header values),
written by a background thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from application.sandboxes.ports import SandboxNetwork
from domain.sandboxes.egress import AddressPolicy, EgressRequest, Verdict, parse_address
from infra.sandboxes.egress_log import FIELDS, NetworkLogWriter
from infra.sandboxes.egress_relay import relay
from infra.sandboxes.egress_wire import NoHead, Refused, parse_request, read_head, refusal
from infra.sandboxes.logs import SqlLogStore

log = structlog.get_logger("tilde.egress")

Judge = Callable[[str, EgressRequest], Verdict]
CONNECT_TIMEOUT = 10.0
# Connections of one sandbox at once (each relaying one costs two threads).
MAX_CONNECTIONS = 256


@dataclass
class _Served:
    listener: socket.socket
    subnet: ipaddress.IPv4Network | ipaddress.IPv6Network
    gateway: str
    accepting: asyncio.Task[None] | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # Sockets of this sandbox's connections (shut when it ends: relay threads return).
    sockets: set[socket.socket] = field(default_factory=set)


class EgressProxy:
    """A `NetworkService`: the forward proxy of every sandbox this worker runs."""

    def __init__(
        self,
        *,
        port: int,
        addresses: Callable[[], AddressPolicy],
        judge: Judge,
        logs: SqlLogStore,
        resolve: Callable[[str, int], Awaitable[list[str]]] | None = None,
        forget: Callable[[str], None] | None = None,
        hosts: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.forget = forget
        self.hosts = dict(hosts or {})
        self.port = port
        self.addresses = addresses
        self.judge = judge
        self.logs = logs
        self.resolve = resolve or self._resolve
        self.writer = NetworkLogWriter(logs)
        self.loop = _new_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="egress", daemon=True)
        self.thread.start()
        self.served: dict[str, _Served] = {}

    # -- NetworkService ---------------------------------------------------------------------
    def environment(self, sandbox_id: str, network: SandboxNetwork) -> dict[str, str]:
        proxy = f"http://{network.gateway}:{self.port}"
        no_proxy = f"localhost,127.0.0.1,::1,{network.gateway}"
        return {
            "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy,
            "https_proxy": proxy, "NO_PROXY": no_proxy, "no_proxy": no_proxy,
        }  # fmt: skip

    def open(self, sandbox_id: str, network: SandboxNetwork) -> None:
        self._call(self._open(sandbox_id, network))

    def close(self, sandbox_id: str) -> None:
        self._call(self._close(sandbox_id))
        self.writer.flush(sandbox_id)
        self.writer.seq.pop(sandbox_id, None)
        self.logs.close(sandbox_id)
        if self.forget is not None:
            self.forget(sandbox_id)

    def shutdown(self) -> None:
        for sandbox_id in list(self.served):
            self._call(self._close(sandbox_id))
        self.writer.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()  # its selector, wake-up pipe and (uvloop) io_uring descriptors

    def _call(self, coroutine: Awaitable[Any]) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)  # type: ignore[arg-type]
        return future.result(30)

    async def _open(self, sandbox_id: str, network: SandboxNetwork) -> None:
        if sandbox_id in self.served:
            return
        await asyncio.to_thread(self.writer.resume, sandbox_id)
        family = socket.AF_INET6 if ":" in network.gateway else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((network.gateway, self.port))  # this sandbox's gateway only
            listener.listen(128)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        served = _Served(listener, ipaddress.ip_network(network.subnet), network.gateway)
        served.accepting = asyncio.create_task(self._accept(sandbox_id, served))
        self.served[sandbox_id] = served
        log.info("egress_proxy_open", sandbox=sandbox_id, gateway=network.gateway, port=self.port)

    async def _accept(self, sandbox_id: str, served: _Served) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, peer = await loop.sock_accept(served.listener)
            except OSError:
                if served.listener.fileno() < 0:
                    return
                await asyncio.sleep(0.05)  # e.g. out of descriptors: do not spin
                continue
            if parse_address(peer[0]) not in served.subnet or len(served.tasks) >= MAX_CONNECTIONS:
                conn.close()  # not this sandbox (say nothing), or too many at once
                continue
            conn.setblocking(False)
            task = asyncio.create_task(self._serve(sandbox_id, served, conn))
            served.tasks.add(task)
            task.add_done_callback(served.tasks.discard)

    async def _close(self, sandbox_id: str) -> None:
        served = self.served.pop(sandbox_id, None)
        if served is None:
            return
        if served.accepting is not None:
            served.accepting.cancel()
        served.listener.close()
        # Shutting the sockets ends every phase (reads see EOF, relay threads return); the
        # tasks then close them — never while a relay thread still splices on them.
        for sock in list(served.sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if served.tasks:
            _, pending = await asyncio.wait(list(served.tasks), timeout=5)
            for task in pending:
                task.cancel()

    # -- one client connection --------------------------------------------------------------
    async def _serve(self, sandbox_id: str, served: _Served, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        started, started_at = time.monotonic(), datetime.now(UTC)
        entry: dict[str, Any] = {"sandbox_id": sandbox_id, "method": "", "url": "", "status": None}
        counts = [0, 0]  # bytes from upstream (in), bytes to upstream (out)
        upstream: socket.socket | None = None
        served.sockets.add(conn)
        try:
            head, rest = await asyncio.wait_for(read_head(loop, conn), 30)
            method, host, port, upstream_head = parse_request(head, entry)
            addresses = await self._decide(sandbox_id, EgressRequest(host, port, method), entry)
            upstream = await self._connect(served, addresses, port)
            if method == "CONNECT":
                await loop.sock_sendall(conn, b"HTTP/1.1 200 Connection established\r\n\r\n")
            first = upstream_head + rest
            if first:
                await loop.sock_sendall(upstream, first)
                counts[1] += len(first)
            await self._relay(conn, upstream, counts, entry, method)
        except Refused as refused:
            entry.setdefault("decision", "allow" if refused.status == 502 else "deny")
            entry["reason"] = refused.reason
            entry["status"] = refused.status if refused.status != 403 else None
            with contextlib.suppress(OSError):
                await loop.sock_sendall(conn, refusal(refused))
        except (OSError, TimeoutError, NoHead):
            pass
        except Exception:  # a bug must not pass silently (the connection just closes)
            log.warning("egress_request_failed", sandbox=sandbox_id, exc_info=True)
            entry.setdefault("decision", "deny")
            entry["reason"] = "proxy error"
        finally:
            for sock in (conn, upstream):
                if sock is not None:
                    served.sockets.discard(sock)
                    sock.close()
            if entry.get("method"):
                entry.setdefault("decision", "allow")
                entry.setdefault("reason", "")
                entry["bytes_in"], entry["bytes_out"] = counts
                entry["duration_ms"] = round((time.monotonic() - started) * 1000, 3)
                now = started_at.isoformat().replace("+00:00", "Z")  # when it was made
                self.writer.write(sandbox_id, {"time": now, **{k: entry[k] for k in FIELDS}})

    async def _relay(
        self,
        conn: socket.socket,
        upstream: socket.socket,
        counts: list[int],
        entry: dict[str, Any],
        method: str,
    ) -> None:
        """The bytes move in threads of their own (`egress_relay`); this task waits."""

        def status(data: bytes) -> None:
            line = data.split(b"\r\n", 1)[0].split(b" ")
            if len(line) > 1 and line[1].isdigit():
                entry["status"] = int(line[1])

        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def run() -> None:
            try:
                relay(conn, upstream, counts, None if method == "CONNECT" else status)
            finally:
                loop.call_soon_threadsafe(_resolve_future, done)

        threading.Thread(target=run, name="egress-relay", daemon=True).start()
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            for sock in (conn, upstream):  # the thread returns; then the caller closes them
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            await asyncio.wait_for(done, 5)
            raise

    async def _connect(self, served: _Served, addresses: list[str], port: int) -> socket.socket:
        """A connection to the first checked address that answers (each gets its turn)."""
        loop = asyncio.get_running_loop()
        failure = "no address"
        for address in addresses:
            upstream = socket.socket(
                socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM
            )
            upstream.setblocking(False)
            served.sockets.add(upstream)
            try:
                connecting = loop.sock_connect(upstream, (address, port))
                await asyncio.wait_for(connecting, CONNECT_TIMEOUT / len(addresses))
                return upstream
            except (OSError, TimeoutError) as e:
                failure = type(e).__name__
                served.sockets.discard(upstream)
                upstream.close()
        raise Refused(502, f"upstream unreachable: {failure}")

    async def _decide(
        self, sandbox_id: str, request: EgressRequest, entry: dict[str, Any]
    ) -> list[str]:
        """The checked addresses to connect to; `Refused(403)` with the reason otherwise."""
        quick = getattr(self.judge, "quick", None)
        verdict: Verdict | None = quick(sandbox_id, request) if quick is not None else None
        if verdict is None:
            verdict = await asyncio.to_thread(self.judge, sandbox_id, request)
        baseline = self.addresses()
        if not verdict.allowed:
            raise Refused(403, verdict.reason)
        literal = parse_address(request.host)
        try:
            if literal:
                found = [request.host]
            elif pinned := self.hosts.get(request.host.lower().rstrip(".")):
                found = list(pinned)
            else:
                found = await self.resolve(request.host, request.port)
        except OSError:
            raise Refused(502, f"cannot resolve {request.host}") from None
        reasons, allowed = [], []
        for candidate in found:
            address = parse_address(candidate)
            if address is None:
                continue
            why = baseline.check_address(address)
            if any(address == parse_address(s.gateway) for s in self.served.values()):
                why = "the server's own address"  # a gateway newer than the address list
            if not why and str(address) not in allowed:
                allowed.append(str(address))
            elif why:
                reasons.append(why)
        if allowed:
            entry["decision"], entry["reason"] = "allow", verdict.reason
            return allowed[:4]
        shown = f"{request.host} is" if literal else f"{request.host} resolves to"
        raise Refused(403, f"{shown} {reasons[0] if reasons else 'no address'}")

    async def _resolve(self, host: str, port: int) -> list[str]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        return [str(info[4][0]) for info in infos]


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (uvicorn's standard extra brings it: faster relaying)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _resolve_future(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
