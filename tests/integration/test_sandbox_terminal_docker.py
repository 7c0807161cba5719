"""`/terminal` of interactive sandboxes on the real Docker engine through a live server, driven
by a raw WebSocket client (the `websockets` package the SDK uses): a real pty (`tty`,
`stty size` after resize frames, Ctrl-C reaching the foreground job, job control), one client
at a time (409), detach and re-attach while the shell runs, the exit frame and the one-shot
commit rules after it (non-zero → errored, `exit` → committed with what the shell wrote), the
output in `logs/stdout`, the 400/410 refusals, a timeout under an attached client; "one client"
through two API servers on one PostgreSQL database, and the lease behind it on both backends."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import tilde
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from application.sandboxes.ports import RuntimeUnavailable, SandboxGone
from infra.bootstrap import Container, bootstrap
from infra.sandboxes.terminal_leases import SqlTerminalLeases
from tests import services
from tests.conftest import FAST_HASHER, LiveServer, create_key, create_user
from tests.docker_env import BUSYBOX_IMAGE, ensure_images
from tests.integration.test_sandbox_exec_ws import FakeSandbox, World, world

__all__ = ["world"]

TERMINAL = {"done", "errored", "failed", "cancelled"}


@dataclass
class Repo:
    server: LiveServer
    token: str
    org: str
    http: httpx.Client
    sdk: Any
    user_id: str = ""
    created: list[str] = field(default_factory=list)

    def create(self, **body: Any) -> str:
        response = self.http.post("", json={"image": BUSYBOX_IMAGE, **body})
        assert response.status_code == 201, response.text
        self.created.append(str(response.json()["sandbox_id"]))
        return self.created[-1]

    def cancel_all(self) -> None:
        """Whatever a failed test left running ends (its worker removes the container)."""
        for sid in self.created:
            if self.status(sid)["status"] not in TERMINAL:
                self.http.delete(f"/{sid}")
                self.ended(sid)

    def status(self, sid: str) -> dict[str, Any]:
        return dict(self.http.get(f"/{sid}/status").json())

    def running(self, sid: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while (status := self.status(sid))["status"] != "running":
            assert time.monotonic() < deadline and status["status"] not in TERMINAL, status
            time.sleep(0.1)

    def ended(self, sid: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (status := self.status(sid))["status"] not in TERMINAL:
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        return status

    def terminal(self, sid: str) -> Term:
        url = self.server.url.replace("http://", "ws://") + self.http.base_url.path
        ws = connect(
            f"{url}/{sid}/terminal",
            additional_headers={"Authorization": f"Bearer {self.token}"},
            open_timeout=10,
        )
        return Term(ws)

    def refused(self, sid: str) -> tuple[int, dict[str, Any]]:
        with pytest.raises(InvalidStatus) as refusal:
            self.terminal(sid)
        response = refusal.value.response
        return response.status_code, json.loads(response.body or b"{}")


class Term:
    """A terminal client: frames in, output accumulated until a marker shows up."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen = b""
        self.exit: dict[str, Any] | None = None

    def type(self, text: str) -> None:
        self.ws.send(b"\x00" + text.encode())

    def resize(self, cols: int, rows: int) -> None:
        self.ws.send(b"\x02" + json.dumps({"cols": cols, "rows": rows}).encode())

    def until(self, marker: bytes, timeout: float = 10) -> bytes:
        """Output from here up to and including `marker` (which must not be typed literally:
        the pty echoes input)."""
        start = len(self.seen)
        deadline = time.monotonic() + timeout
        while marker not in self.seen[start:]:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} in {self.seen[start:]!r}"
            try:
                frame = self.ws.recv(timeout=left)
            except TimeoutError:
                raise AssertionError(f"no {marker!r} in {self.seen[start:]!r}") from None
            assert isinstance(frame, bytes)
            if frame[:1] == b"\x01":
                self.seen += frame[1:]
            elif frame[:1] == b"\x03":
                self.exit = json.loads(frame[1:])
                raise AssertionError(f"exited {self.exit} before {marker!r}: {self.seen!r}")
        end = self.seen.index(marker, start) + len(marker)
        return self.seen[start:end]

    def exited(self, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while self.exit is None:
            frame = self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            assert isinstance(frame, bytes)
            if frame[:1] == b"\x03":
                self.exit = json.loads(frame[1:])
        with pytest.raises(ConnectionClosed):  # the server closes after the exit frame
            self.ws.recv(timeout=5)
        return self.exit

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def repo(container: Container, live_server: LiveServer) -> Iterator[Repo]:
    ensure_images(python=False)
    user = create_user(container)
    token = create_key(container, user)
    with tilde.Client(endpoint_url=live_server.url, api_key=token) as sdk:
        org = sdk.organizations.create(f"t-{user['username']}", display_name="terminals")
        org.repositories.create("data", description="terminals")
        base = f"{live_server.url}/api/v1/organizations/{org.name}/repositories/data/sandboxes"
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
            repo = Repo(
                live_server, token, org.name, http, sdk.repository(f"{org.name}/data"), user["id"]
            )
            try:
                yield repo
            finally:
                repo.cancel_all()


# PostgreSQL runs the attach, the 409 and the re-attach in the test across API servers below.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_terminal_is_a_real_pty_one_client_at_a_time_and_its_exit_errors_the_sandbox(
    repo: Repo,
) -> None:
    sid = repo.create(mode="interactive", timeout_seconds=300)
    repo.running(sid)
    term = repo.terminal(sid)
    term.resize(100, 30)  # as `tilde shell` does first
    out = term.until(b"$ ")  # the prompt printed before we attached is replayed
    term.type("tty; stty size; echo mark-$((40+2))\n")
    out = term.until(b"mark-42")
    assert b"/dev/pts/" in out and b"30 100" in out, out
    for ignored in (b"\x02{bad", b'\x02{"cols":0,"rows":5}', b"\x07unknown", b"", "text"):
        term.ws.send(ignored)  # malformed resizes, unknown types, empty and text frames
    term.resize(132, 40)
    term.type("stty size; echo size-$((1+1))\n")
    assert b"40 132" in term.until(b"size-2")
    # Ctrl-C reaches the foreground process: `sleep 100` ends at once.
    term.type("sleep 100\n")
    term.until(b"sleep 100\r\n")
    time.sleep(0.3)
    started = time.monotonic()
    term.ws.send(b"\x00\x03")
    term.type("echo after-$((2+3))\n")
    term.until(b"after-5")
    assert time.monotonic() - started < 10
    # Job control: Ctrl-Z stops the foreground job, which `kill %1` then ends.
    term.type("sleep 50\n")
    term.until(b"sleep 50\r\n")
    time.sleep(0.3)
    term.ws.send(b"\x00\x1a")
    term.until(b"Stopped")
    term.type("kill -9 %1; sleep 0.2; jobs; echo jobs-$((3+4))\n")
    out = term.until(b"jobs-7")
    assert b"Killed" in out and b"sleep 50" in out, out
    # A second client is refused while the first is attached.
    assert repo.refused(sid)[0] == 409
    # Leaving only detaches: the shell keeps its state and a client attaches again.
    term.type("export KEPT=yes-$((4+5))\n")
    term.until(b"$ ")
    term.close()
    time.sleep(0.5)
    assert repo.status(sid)["status"] == "running"
    term = repo.terminal(sid)
    term.type("echo kept-$KEPT\n")
    term.until(b"kept-yes-9")
    # Ctrl-P Ctrl-Q (the engine's default detach keys) reach the shell: history, then XON.
    term.type("\x10\x11\n")
    term.until(b"kept-yes-9")
    term.type("exit 3\n")
    assert term.exited() == {"exited": True, "exit_code": 3}
    status = repo.ended(sid)
    assert (status["status"], status["status_reason"], status["exit_code"]) == (
        "errored",
        "exit_non_zero",
        3,
    )
    logs = repo.http.get(f"/{sid}/logs/stdout").content
    assert b"mark-42" in logs and b"kept-yes-9" in logs
    assert repo.refused(sid)[0] == 410
    # Who attached and for how long is on the record: two attachments, the first left, the
    # second ended by the shell's exit (the refused clients never got in).
    audit = repo.http.get(
        f"{repo.server.url}/api/v1/organizations/{repo.org}/audit",
        params={"amount": 1000},
    ).json()["results"]
    terminal = [
        (e["event_type"], e["data"].get("exited"), e["actor_id"])
        for e in audit
        if e["resource_id"] == sid and e["event_type"].startswith("Sandbox.Terminal")
    ]
    user = repo.user_id
    assert terminal == [
        ("Sandbox.TerminalAttached", None, user),
        ("Sandbox.TerminalDetached", False, user),
        ("Sandbox.TerminalAttached", None, user),
        ("Sandbox.TerminalDetached", True, user),
    ], terminal
    assert all(e["data"]["duration_ms"] > 0 for e in audit if e["event_type"].endswith("Detached"))


# The commit path and the timeout are the runner's, tested on both backends elsewhere.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_legacy_interactive_shell_exiting_cleanly_commits_and_a_timeout_kills_one(
    repo: Repo,
) -> None:
    sid = repo.create(interactive=True)  # the Go CLI's `tilde shell`
    oneshot = repo.create(command=["sleep", "30"])
    repo.running(sid)
    term = repo.terminal(sid)
    term.type("echo from-the-terminal > /sandbox/notes.txt; echo w-$((6+1))\n")
    term.until(b"w-7")
    term.type("exit\n")
    assert term.exited()["exit_code"] == 0
    status = repo.ended(sid)
    assert (status["status"], status["status_reason"]) == ("done", "committed"), status
    commit = repo.sdk.commits.get(status["commit_id"])
    assert commit.objects.get("notes.txt").read() == b"from-the-terminal\n"
    repo.running(oneshot)
    code, body = repo.refused(oneshot)
    assert code == 400 and set(body) == {"message", "code", "request_id"}, body
    repo.http.delete(f"/{oneshot}")
    # The timeout still applies: it kills the shell under an attached client.
    sid = repo.create(mode="interactive", timeout_seconds=2)
    repo.running(sid)
    term = repo.terminal(sid)
    term.type("echo partial > /sandbox/partial.txt\n")
    assert term.exited()["exit_code"] == 137  # SIGKILL
    status = repo.ended(sid)
    assert (status["status"], status["status_reason"]) == ("failed", "timeout"), status


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_one_client_at_a_time_holds_across_api_servers(container: Container, repo: Repo) -> None:
    sid = repo.create(mode="interactive", timeout_seconds=120)
    # A second API server on the database, as another process would be: its own container
    # (connection pools, services, no sandbox worker) and its own HTTP server.
    settings = container.settings.model_copy(
        update={"port": services.free_port(), "sandbox_max_concurrent": 0}
    )
    other_container = bootstrap(settings, hasher=FAST_HASHER)
    try:
        with LiveServer(other_container) as other:
            through_other = Repo(other, repo.token, repo.org, repo.http, repo.sdk)
            repo.running(sid)
            term = repo.terminal(sid)
            term.type("echo here-$((1+1))\n")
            term.until(b"here-2")
            code, body = through_other.refused(sid)
            assert (code, body["code"]) == (409, "CONFLICT"), body
            term.close()
            time.sleep(0.5)
            term = through_other.terminal(sid)
            term.type("echo there-$((2+2)); exit\n")
            term.until(b"there-4")
            assert term.exited()["exit_code"] == 0
            assert repo.ended(sid)["status"] == "done"
    finally:
        other_container.close()


def test_the_terminal_lease_holds_across_processes_and_lapses(container: Container) -> None:
    now = [1000.0]
    # Two API processes: two lease stores over the one database.
    first, second = (SqlTerminalLeases(container.db, clock=lambda: now[0]) for _ in range(2))
    assert first.acquire("s1", "a", 15)
    assert not second.acquire("s1", "b", 15)
    assert second.acquire("s2", "b", 15)  # other sandboxes are independent
    now[0] += 10
    assert first.renew("s1", "a", 15) and not second.renew("s1", "b", 15)
    now[0] += 14
    assert not second.acquire("s1", "b", 15)  # renewed: still held
    now[0] += 2  # its process died: no renewal for longer than the ttl
    assert second.acquire("s1", "b", 15)
    assert not first.renew("s1", "a", 15)
    first.release("s1", "a")  # not its lease any more: nothing happens
    assert not first.acquire("s1", "a", 15)
    second.release("s1", "b")
    assert first.acquire("s1", "a", 15)


@dataclass
class InteractiveBox(FakeSandbox):
    def record(self) -> dict[str, Any]:
        return {**super().record(), "mode": "interactive"}


def refusal(world: World, sandbox_id: str) -> tuple[int, str]:
    url = world.url(sandbox_id).removesuffix("/exec") + "/terminal"
    headers = {"Authorization": f"Bearer {world.owner.token}"}
    with pytest.raises(InvalidStatus) as refused:
        connect(url, additional_headers=headers, open_timeout=10)
    body = json.loads(refused.value.response.body or b"{}")
    assert set(body) == {"message", "code", "request_id"}, body
    return refused.value.response.status_code, body["message"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_refusals_come_before_the_upgrade_and_leave_no_lease(world: World) -> None:
    box = InteractiveBox("tty", "/sandbox", status="starting")
    world.sandboxes.boxes["tty"] = box
    code, message = refusal(world, "tty")
    assert code == 409 and "not available yet" in message
    box.status = "running"

    def gone(handle: Any) -> None:
        raise SandboxGone("removed behind the worker's back")

    def unreachable(handle: Any) -> None:
        raise RuntimeUnavailable("engine down")

    world.runtime.terminal = gone  # type: ignore[attr-defined]
    code, message = refusal(world, "tty")
    assert code == 409 and "cannot be re-established" in message
    world.runtime.terminal = unreachable  # type: ignore[attr-defined]
    assert refusal(world, "tty")[0] == 503  # not 409: the failed attempts left no lease
    assert refusal(world, "box")[0] == 400  # a service sandbox
    box.status = "done"
    assert refusal(world, "tty")[0] == 410
