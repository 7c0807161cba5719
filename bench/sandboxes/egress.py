"""Phase `egress`: the egress proxy beside a direct connection to the same upstream, same run.

The upstream is a busybox httpd in a container on a bridge network this phase creates (a 4-byte
file and a 100 MiB file). The proxy is the worker's (`EgressProxy`: the policy judge, the
address baseline with the upstream allowed by the operator list, the NDJSON network log on
SQLite) bound on 127.0.0.2 as if that were a sandbox gateway; the client is this process
(latency: a new connection per request, as the proxy forwards one request per connection) and
`curl` (throughput: plain HTTP forwarding and a CONNECT tunnel, 100 MiB to /dev/null)."""

from __future__ import annotations

import argparse
import http.client
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from uuid import uuid4

import docker

from application.sandboxes.ports import SandboxNetwork
from bench.common import Row, Summary, Target, log, ms
from domain.sandboxes.egress import EgressRequest, Verdict
from infra.sandboxes.egress_proxy import EgressProxy
from infra.sandboxes.egress_relay import relay
from infra.sandboxes.host_addresses import HostAddressPolicy
from infra.sandboxes.logs import SqlLogStore
from infra.sql.database import SqliteDatabase

IMAGE = "tilde-test/busybox:latest"
GATEWAY = "127.0.0.2"
PORT = 13128
MIB = 1 << 20


def _upstream(client: docker.DockerClient, size_mib: int) -> tuple[str, object, object]:
    network = client.networks.create(f"bench-egress-{uuid4().hex[:8]}", driver="bridge")
    script = (
        "mkdir -p /tmp/www && echo hi > /tmp/www/small"
        f" && dd if=/dev/zero of=/tmp/www/big bs=1048576 count={size_mib} 2>/dev/null"
        " && exec httpd -f -p 8080 -h /tmp/www"
    )
    box = client.containers.run(IMAGE, ["sh", "-c", script], network=network.name, detach=True)
    box.reload()
    address = box.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
    deadline = time.monotonic() + 30
    while True:  # until the big file is written and httpd answers
        try:
            conn = http.client.HTTPConnection(address, 8080, timeout=2)
            conn.request("HEAD", "/big")
            if conn.getresponse().getheader("Content-Length") == str(size_mib * MIB):
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the upstream never came up"
        time.sleep(0.2)
    return address, box, network


def _get(host: str, port: int, target: str, via_proxy: bool, upstream: str) -> float:
    started = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", f"http://{upstream}:8080{target}" if via_proxy else target)
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 200, response.status
    return time.perf_counter() - started


def _curl(url: str, *proxy: str) -> float:
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{time_total}", *proxy, url],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout)


def _port_forward(upstream: str) -> tuple[socket.socket, int]:
    """A bare TCP hop to the upstream with the proxy's relay and nothing else (no parsing, no
    decision, no log): what one extra TCP connection through this machine costs."""
    listener = socket.create_server((GATEWAY, 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            up = socket.create_connection((upstream, 8080))
            threading.Thread(target=relay, args=(conn, up, [0, 0]), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener, listener.getsockname()[1]


def run(args: argparse.Namespace) -> list[Row]:
    samples = 50 if args.quick else 300
    size_mib = 20 if args.quick else 100
    rounds = 1 if args.quick else 5
    client = docker.from_env()
    upstream, box, network = _upstream(client, size_mib)
    data = tempfile.mkdtemp(prefix="bench-egress-")
    store = SqlLogStore(SqliteDatabase(Path(data) / "logs.db"), retention_seconds=3600, kind="n")

    def judge(sandbox_id: str, request: EgressRequest) -> Verdict:
        return Verdict(True, "public destination")

    proxy = EgressProxy(
        port=PORT, addresses=HostAddressPolicy([f"{upstream}/32"]), judge=judge, logs=store
    )
    proxy.open("bench", SandboxNetwork("bench", "127.0.0.0/8", GATEWAY))
    try:
        log(f"egress: {samples} small GETs direct and proxied")
        for _ in range(10):  # warm both paths
            _get(upstream, 8080, "/small", False, upstream)
            _get(GATEWAY, PORT, "/small", True, upstream)
        direct, proxied = [], []
        for _ in range(samples):  # interleaved: both see the same machine load
            direct.append(_get(upstream, 8080, "/small", False, upstream))
            proxied.append(_get(GATEWAY, PORT, "/small", True, upstream))
        log(f"egress: {size_mib} MiB downloads x{rounds}: direct, forwarded, tunnelled")
        big = f"http://{upstream}:8080/big"
        proxy_url = f"http://{GATEWAY}:{PORT}"
        listener, hop_port = _port_forward(upstream)
        times: dict[str, list[float]] = {"raw": [], "forwarded": [], "tunnelled": [], "hop": []}
        for _ in range(rounds):  # interleaved, medians: the machine is shared
            times["raw"].append(_curl(big))
            times["hop"].append(_curl(f"http://{GATEWAY}:{hop_port}/big"))
            times["forwarded"].append(_curl(big, "--proxy", proxy_url))
            times["tunnelled"].append(_curl(big, "--proxy", proxy_url, "--proxytunnel"))
        listener.close()
        raw, forwarded, tunnelled, hop = (statistics.median(times[k]) for k in times)
    finally:
        proxy.close("bench")
        proxy.shutdown()
        box.remove(force=True)  # type: ignore[attr-defined]
        network.remove()  # type: ignore[attr-defined]
    d, p = Summary.of(direct), Summary.of(proxied)
    rate = size_mib / raw
    return [
        Row(
            "proxied GET (new connection), p50",
            "ms",
            ms(p.p50),
            ms(d.p50),
            None,
            {"added_p50_ms": ms(p.p50 - d.p50), "p99_ms": ms(p.p99), "direct_p99_ms": ms(d.p99)},
        ),
        Row(
            f"{size_mib} MiB download, HTTP forwarded",
            "MiB/s",
            size_mib / forwarded,
            rate,
            Target(">=", 0.8 * rate, "≥ 80 % of direct"),
        ),
        Row(
            f"{size_mib} MiB download, CONNECT tunnel",
            "MiB/s",
            size_mib / tunnelled,
            rate,
            Target(">=", 0.8 * rate, "≥ 80 % of direct"),
        ),
        Row(
            f"{size_mib} MiB through a bare TCP hop (floor)",
            "MiB/s",
            size_mib / hop,
            rate,
            None,
            {"proxy_vs_hop_forwarded": hop / forwarded, "proxy_vs_hop_tunnel": hop / tunnelled},
        ),
    ]
