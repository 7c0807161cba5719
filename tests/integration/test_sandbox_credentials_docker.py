"""In-sandbox credentials on the real Docker engine, both backends: the official SDK inside a
sandbox (the python image with `tilde-sdk` copied in) works with no API key — its token from
`TILDE_SANDBOX_CREDENTIALS_URI`, its API through `TILDE_API_URL` (sessions, presigned uploads,
307 downloads, the log) — another sandbox and the host cannot fetch that sandbox's
credentials, the token answers 401 once the sandbox ended, and a `run_as` agent's token can do
what the agent can and nothing more."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import tilde

from infra.bootstrap import Container
from tests.conftest import LiveServer, ServerProcess, bearer, create_key, create_user
from tests.docker_env import PYTHON_SDK_IMAGE, build_python_sdk, docker_client

TERMINAL = {"done", "errored", "failed", "cancelled"}
API = "/api/v1"

# Runs inside the sandbox: `python3 /sandbox/probe.py MODE [OTHER_CREDENTIALS_URI]`.
PROBE = r"""
import json, os, sys, urllib.error, urllib.request
import tilde

mode = sys.argv[1]
uri = os.environ["TILDE_SANDBOX_CREDENTIALS_URI"]
with urllib.request.urlopen(uri, timeout=5) as answer:
    creds = json.load(answer)
out = {"api_url": os.environ["TILDE_API_URL"], "uri": uri, "creds": creds}
repo = tilde.repository(os.environ["REPO"])
if mode == "user":
    with repo.session() as session:
        session.objects.put("inside/new.txt", b"written inside")
        out["staged"] = sorted(o.path for o in session.objects.list())
        out["commit"] = session.commit("from inside the sandbox")
    commit = repo.commits.get(out["commit"])
    out["paths"] = sorted(o.path for o in commit.objects.list())
    out["read"] = commit.objects.get("in/hello.txt").read().decode()
    out["log"] = [c.message for c in repo.commits.list()]
    if len(sys.argv) > 2:  # another sandbox's endpoint: straight, then through the proxy
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        for name, opener in (("other", direct), ("other_proxied", urllib.request.build_opener())):
            try:
                opener.open(sys.argv[2], timeout=3).read()
                out[name] = "fetched"
            except urllib.error.HTTPError as e:
                out[name] = f"HTTPError {e.code}"
            except Exception as e:
                out[name] = type(e).__name__
else:
    out["log"] = [c.message for c in repo.commits.list()]
    try:
        repo.session()
        out["session"] = "opened"
    except tilde.exceptions.ForbiddenError as e:
        out["session"] = e.status_code
print(json.dumps(out))
"""


class World:
    def __init__(self, container: Container, server: LiveServer) -> None:
        build_python_sdk(docker_client())
        self.server = server
        user = create_user(container)
        self.token = create_key(container, user)
        self.user_id = user["id"]
        self.http = httpx.Client(base_url=server.url + API, headers=bearer(self.token))
        self.client = tilde.Client(endpoint_url=server.url, api_key=self.token)
        self.org = f"c-{user['username']}"
        org = self.client.organizations.create(self.org, display_name="credentials")
        org.repositories.create("data", description="in-sandbox credentials")
        self.repo = self.client.repository(f"{self.org}/data")
        with self.repo.session() as session:
            session.objects.put("in/hello.txt", b"hello from the repository\n")
            session.objects.put("probe.py", PROBE.encode())
            session.commit("seed")

    def close(self) -> None:
        self.http.close()
        self.client.close()


@pytest.fixture
def world(container: Container, live_server: LiveServer) -> Iterator[World]:
    w = World(container, live_server)
    yield w
    w.close()


def probe(shell: Any, *args: str) -> dict[str, Any]:
    result = shell.run(f"python3 /sandbox/probe.py {' '.join(args)}")
    assert result.exit_code == 0, result.stderr.text()
    return json.loads(result.stdout.text().strip().splitlines()[-1])  # type: ignore[no-any-return]


def wait_ended(sandbox: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = sandbox.status()
        if status.state in TERMINAL:
            return status
        time.sleep(0.2)
    raise AssertionError("the sandbox never ended")


def refused(host: str, port: int) -> bool:
    """No HTTP answer: the connection is refused, reset or closed before any byte."""
    try:
        with socket.create_connection((host, port), timeout=3) as conn:
            conn.sendall(b"GET /v1/credentials HTTP/1.1\r\nHost: x\r\n\r\n")
            return conn.recv(1) == b""
    except OSError:
        return True


def test_the_sdk_inside_a_sandbox_works_without_a_key_and_only_there(
    world: World, container: Container
) -> None:
    # Another API process (no worker): the revocation must reach it at once as well.
    api = ServerProcess(container.settings)
    api.extra_args = ["--no-background"]
    api.start()
    elsewhere = httpx.Client(base_url=api.url + API)
    env = {"REPO": f"{world.org}/data"}
    with (
        world.repo.shell(image=PYTHON_SDK_IMAGE, env=env) as first,
        world.repo.shell(image=PYTHON_SDK_IMAGE, env=env) as other,
    ):
        theirs = probe(other, "agent")["uri"]
        out = probe(first, "user", theirs)
        creds = out["creds"]
        assert creds["access_token"].startswith("tst-") and creds["expires_at"].endswith("Z")
        assert (creds["principal_type"], creds["principal_id"]) == ("user", world.user_id)
        assert creds["api_url"] == out["api_url"] and "/api/v1" not in out["api_url"]
        assert out["uri"] == out["api_url"] + "/v1/credentials"
        assert out["staged"] == ["in/hello.txt", "inside/new.txt", "probe.py"]
        assert out["paths"] == ["in/hello.txt", "inside/new.txt", "probe.py"]
        assert out["read"] == "hello from the repository\n"  # a 307 download, relayed
        assert out["log"][:2] == ["from inside the sandbox", "seed"]
        # Another sandbox's endpoint hangs up on this one (its peer is not in that subnet),
        # and the host (the gateway address itself) is not answered either.
        assert out["other"] in ("RemoteDisconnected", "ConnectionResetError", "URLError")
        # Through the egress proxy it is one of the server's own addresses: refused there.
        assert out["other_proxied"] == "HTTPError 403"
        gateway, port = out["api_url"].removeprefix("http://").split(":")
        assert refused(gateway, int(port))
        # The token is the user's, from outside too, while the sandbox runs.
        for http in (world.http, elsewhere):
            me = http.get("/auth/me", headers=bearer(creds["access_token"]))
            assert me.status_code == 200 and me.json()["user"]["id"] == world.user_id
        # It cannot mint a credential that would outlive the sandbox.
        minted = world.http.post(
            "/auth/keys", json={"name": "escape"}, headers=bearer(creds["access_token"])
        )
        assert minted.status_code == 403, minted.text
        sandbox = first._sandbox
    status = wait_ended(sandbox)
    assert status.state == "done", status.error_message
    # Ended: the token is revoked in every API process and the endpoint is gone.
    try:
        for http in (world.http, elsewhere):
            r = http.get("/auth/me", headers=bearer(creds["access_token"]))
            assert r.status_code == 401 and set(r.json()) == {"message", "code", "request_id"}
    finally:
        elsewhere.close()
        api.stop()
    assert not container.services["sandbox_credentials"].serving(sandbox.id)
    # The token's secret is nowhere in the sandbox's record or in any event.
    secret = creds["access_token"].split("_", 1)[1].encode()
    record = world.http.get(f"/organizations/{world.org}/repositories/data/sandboxes/{sandbox.id}")
    assert record.status_code == 200 and secret not in record.content
    for app in container.apps.values():
        for note in app.recorder.select_notifications(start=1, limit=100_000):
            assert secret not in note.state


def test_a_run_as_agents_token_can_do_what_the_agent_can_and_no_more(world: World) -> None:
    policy = "CreateSandbox()\nListCommits()\nGetCommit()\nGetObject()\nListObjects()\n"
    agent = world.http.post(
        f"/organizations/{world.org}/agents",
        json={"name": "reader-bot", "description": "reads", "inline_policy": policy},
    )
    assert agent.status_code == 201, agent.text
    sandbox = world.repo.sandboxes.create(
        image=PYTHON_SDK_IMAGE,
        command=["sh", "-c", "python3 /sandbox/probe.py agent"],
        env={"REPO": f"{world.org}/data"},
        run_as={"type": "agent", "id": agent.json()["id"]},
    )
    status = wait_ended(sandbox)
    with status.stdout() as lines:
        text = "".join(lines)
    assert status.state == "done", text
    out = json.loads(text.strip().splitlines()[-1])
    creds = out["creds"]
    assert (creds["principal_type"], creds["principal_name"]) == ("agent", "reader-bot")
    assert out["log"] == ["seed"] and out["session"] == 403
