"""The egress proxy on the real Docker engine, on both backends: from inside a sandbox (the
Debian+python3 image), a request to a test upstream (a busybox httpd in a container on a
network this test creates, allowed by the operator setting) goes through the proxy, plain and
as a CONNECT tunnel, and is logged `allow` with its status; the host's loopback, a name that
resolves to it and the server's own address on the sandbox network are refused (403, logged
`deny`); a direct connection fails; a name the operator pinned to the upstream
(`TILDE_SANDBOX_EGRESS_HOSTS`, no DNS record anywhere) is reached by name, and an organization
network policy denying that host name turns the same request into `deny`. `logs/network`
streams live through the SDK, ends when the sandbox ends and answers 410 once expired."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
import tilde

from infra.bootstrap import Container
from infra.settings import Settings
from tests import services
from tests.conftest import LiveServer, create_key, create_user, make_settings
from tests.docker_env import BUSYBOX_IMAGE, PYTHON_IMAGE, docker_client, ensure_images

TERMINAL = {"done", "errored", "failed", "cancelled"}
NAME = "upstream.tilde-test"  # pinned by the operator setting; no DNS server knows it

INSIDE = r"""
import http.client, json, os, socket, sys, time, urllib.error, urllib.request
up, api_port = sys.argv[1], int(sys.argv[2])
proxy = os.environ["HTTP_PROXY"]
gateway, proxy_port = proxy.split("//")[1].rsplit(":", 1)
def out(key, value):
    print(json.dumps({key: value}), flush=True)
r = urllib.request.urlopen(f"http://{up}:8080/hello.txt?token=secret", timeout=10)
out("env", [r.status, r.read().decode()])
if len(sys.argv) > 4:  # the operator's pinned name for the upstream
    r = urllib.request.urlopen(f"http://{sys.argv[4]}:8080/hello.txt", timeout=10)
    out("named", [r.status, r.read().decode()])
for name in ("no_proxy", "NO_PROXY"):  # urllib would bypass the proxy for these names
    os.environ.pop(name)
forced = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy}))
for name, url in (("loopback", f"http://127.0.0.1:{api_port}/api/v1/health"),
                  ("localhost", f"http://localhost:{api_port}/api/v1/health"),
                  ("own", f"http://{gateway}:{api_port}/api/v1/health")):
    try:
        forced.open(url, timeout=10)
        out(name, "reached")
    except urllib.error.HTTPError as e:
        out(name, [e.code, e.read().decode()])
c = http.client.HTTPConnection(gateway, int(proxy_port), timeout=10)
c.set_tunnel(up, 8080)
c.request("GET", "/hello.txt")
r = c.getresponse()
out("tunnel", [r.status, r.read().decode()])
for name, address in (("direct", (up, 8080)), ("direct_gateway", (gateway, api_port))):
    try:
        socket.create_connection(address, timeout=3).close()
        out(name, "connected")
    except OSError as e:
        out(name, type(e).__name__)
out("done", True)
time.sleep(int(sys.argv[3]))
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """A busybox httpd on a bridge network of this test's own; its address."""
    ensure_images()
    client = docker_client()
    network = client.networks.create(f"tegress-{uuid4().hex[:10]}", driver="bridge")
    box = client.containers.run(
        BUSYBOX_IMAGE,
        ["sh", "-c", "mkdir -p /tmp/www && echo hello-upstream > /tmp/www/hello.txt"
         " && exec httpd -f -p 8080 -h /tmp/www"],
        network=network.name,
        detach=True,
    )  # fmt: skip
    try:
        box.reload()
        yield box.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
    finally:
        box.remove(force=True)
        network.remove()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, upstream: str) -> Iterator[Settings]:
    settings = make_settings(
        tmp_path,
        request.param,
        sandbox_egress_allow=f"{upstream}/32",
        sandbox_egress_hosts=f"{NAME}={upstream}",
    )
    yield settings
    if settings.is_postgres:
        services.drop_database(settings.database_url)


def ended(sandbox: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while (status := sandbox.status()).state not in TERMINAL:
        assert time.monotonic() < deadline, status
        time.sleep(0.3)
    return status


def test_requests_go_through_the_proxy_are_policed_and_logged(
    container: Container, live_server: LiveServer, upstream: str
) -> None:
    user = create_user(container)
    token = create_key(container, user)
    auth = {"Authorization": f"Bearer {token}"}
    with tilde.Client(endpoint_url=live_server.url, api_key=token) as client:
        org = client.organizations.create(f"e-{user['username']}", display_name="egress")
        org.repositories.create("data", description="egress")
        repo = client.repository(f"{org.name}/data")
        with repo.session() as session:
            session.objects.put("seed.txt", b"seed\n")
            session.commit("seed")
        args = [upstream, str(live_server.port)]
        sandbox = repo.sandboxes.create(
            image=PYTHON_IMAGE, command=["python3", "-c", INSIDE, *args, "120", NAME]
        )
        # busybox wget honours http_proxy too (in a sandbox of its own, running meanwhile).
        fetch = f"wget -q -O - http://{upstream}:8080/hello.txt"
        wget = repo.sandboxes.create(image=BUSYBOX_IMAGE, command=["sh", "-c", fetch])
        # Live: the network log streams while the sandbox still runs.
        entries = []
        with sandbox.status().network() as stream:
            for line in stream:
                entries.append(json.loads(line))
                if len(entries) == 6:
                    break
        said: dict[str, Any] = {}
        with sandbox.status().stdout() as stream:
            for line in stream:
                said.update(json.loads(line))
                if "done" in said:
                    break
        assert sandbox.status().state == "running"
        sandbox.cancel()
        with sandbox.status().network() as stream:  # ends with the sandbox
            assert [json.loads(line) for line in stream] == entries
        assert ended(sandbox).state == "cancelled"

        assert said["env"] == [200, "hello-upstream\n"]
        assert said["named"] == [200, "hello-upstream\n"]
        assert said["tunnel"] == [200, "hello-upstream\n"]
        assert said["loopback"][0] == 403 and "loopback" in said["loopback"][1]
        assert said["localhost"][0] == 403 and "resolves to loopback" in said["localhost"][1]
        assert said["own"][0] == 403 and "own address" in said["own"][1]
        assert said["direct"] != "connected" and said["direct_gateway"] != "connected"
        assert said["done"] is True

        by_url = {e["url"]: e for e in entries}
        plain = by_url[f"http://{upstream}:8080/hello.txt"]  # no query string: it may hold tokens
        assert (plain["decision"], plain["status"], plain["method"]) == ("allow", 200, "GET")
        assert plain["bytes_in"] > len("hello-upstream\n") and plain["bytes_out"] > 0
        assert plain["sandbox_id"] == str(sandbox.id) and plain["time"].endswith("Z")
        named = by_url[f"http://{NAME}:8080/hello.txt"]
        assert (named["decision"], named["status"]) == ("allow", 200)
        tunnel = by_url[f"{upstream}:8080"]
        assert (tunnel["method"], tunnel["decision"]) == ("CONNECT", "allow")
        assert tunnel["bytes_in"] > 0 and tunnel["duration_ms"] >= 0
        denied = [e for e in entries if e["decision"] == "deny"]
        assert len(denied) == 3 and all(e["status"] is None for e in denied)
        assert {e["url"].split("/")[2].rsplit(":", 1)[0] for e in denied} >= {
            "127.0.0.1",
            "localhost",
        }
        assert "secret" not in json.dumps(entries)

        assert ended(wget).state == "done"
        with wget.status().stdout() as stream:
            assert list(stream) == ["hello-upstream"]
        with wget.status().network() as stream:
            (fetched,) = [json.loads(line) for line in stream]
        assert (fetched["decision"], fetched["status"]) == ("allow", 200)

        # An organization network policy denying the pinned host name turns the same request
        # (by name) into deny.
        policy = org.policies.create("no-upstream", f'deny Egress(host="{NAME}")\n')
        policy.attach(principal_type="user", principal_id=user["id"])
        second = repo.sandboxes.create(
            image=PYTHON_IMAGE, command=["python3", "-c", INSIDE, NAME, args[1], "0"]
        )
        assert ended(second).state == "errored"  # urlopen raised on the 403
        with second.status().stdout() as stream:
            text = "\n".join(stream)
        assert "HTTP Error 403: Forbidden" in text

    base = f"{live_server.url}/api/v1/organizations/{org.name}/repositories/data/sandboxes"
    answer = httpx.get(f"{base}/{second.id}/logs/network", headers=auth, timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    (line,) = [json.loads(x) for x in answer.text.splitlines()]
    assert (line["decision"], line["method"]) == ("deny", "GET")
    assert line["url"] == f"http://{NAME}:8080/hello.txt"
    assert line["reason"] == "denied by network policy (line 1)"
    container.services["sandbox_network_logs"].expire(str(second.id))
    gone = httpx.get(f"{base}/{second.id}/logs/network", headers=auth, timeout=30)
    assert gone.status_code == 410 and set(gone.json()) == {"message", "code", "request_id"}
