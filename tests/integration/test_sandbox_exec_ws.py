"""`/exec` over a real WebSocket against a live server, every frame type and every refusal,
with a runtime whose children are host processes (real pipes) and a sandboxes service fake;
the Docker end-to-end runs are in tests/e2e/test_sandbox_exec_sdk.py."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from application.sandboxes.ports import Handle
from infra.bootstrap import Container
from tests.conftest import LiveServer
from tests.orgs import Person, create_org, person

ENGINE = "fake-engine"


class HostProcess:
    """An `ExecProcess` over a host child with pipes: stdout/stderr chunks as they come."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: str) -> None:
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={"PATH": os.environ["PATH"], "FROM_CONTAINER": "yes", **env},
            cwd=cwd,
        )
        self.chunks: queue.Queue[tuple[int, bytes] | None] = queue.Queue()
        self.open = 2
        self.killed = False
        for stream, pipe in ((1, self.proc.stdout), (2, self.proc.stderr)):
            threading.Thread(target=self._drain, args=(stream, pipe), daemon=True).start()

    def _drain(self, stream: int, pipe: Any) -> None:
        while data := os.read(pipe.fileno(), 65536):
            self.chunks.put((stream, data))
        self.chunks.put(None)

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def read(self) -> tuple[int, bytes] | None:
        while self.open:
            item = self.chunks.get()
            if item is not None:
                return item
            self.open -= 1
        return None

    def wait(self) -> int:
        return self.proc.wait()

    def kill(self) -> None:
        self.killed = True
        self.proc.kill()


@dataclass
class FakeRuntime:
    engine: str = ENGINE
    processes: list[HostProcess] = field(default_factory=list)

    def exec(
        self, handle: Handle, argv: Sequence[str], env: Mapping[str, str], cwd: str
    ) -> HostProcess:
        process = HostProcess(argv, env, cwd)
        self.processes.append(process)
        return process


@dataclass
class Written:
    written: tuple[Any, ...] = ()


@dataclass
class FakeSandbox:
    id: str
    mountpoint: str
    status: str = "running"
    engine: str = ENGINE

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "mode": "service",
            "mountpoint": self.mountpoint,
            "engine": self.engine,
            "container_id": "c-" + self.id if self.status == "running" else "",
            "volume_name": "v",
            "network_name": "n",
        }


@dataclass
class FakeSandboxes:
    """The lookups and `record_exec` of the sandboxes service."""

    boxes: dict[str, FakeSandbox] = field(default_factory=dict)
    execs: list[dict[str, Any]] = field(default_factory=list)

    def in_repository(self, org_id: str, repo_name: str, sandbox_id: str) -> FakeSandbox:
        return self.sandbox(sandbox_id)

    def sandbox(self, sandbox_id: str) -> FakeSandbox:
        from domain.shared.errors import NotFound

        if sandbox_id not in self.boxes:
            raise NotFound("sandbox not found")
        return self.boxes[sandbox_id]

    def record_exec(
        self, sandbox_id: str, principal: Any, argv: list[str], cwd: str, code: int, ms: int
    ) -> Written:
        self.execs.append(
            {"sandbox": sandbox_id, "by": principal.id, "argv": argv, "cwd": cwd, "exit": code}
        )
        return Written()


@dataclass
class World:
    server: LiveServer
    owner: Person
    org: str
    runtime: FakeRuntime
    sandboxes: FakeSandboxes
    mountpoint: Path

    def url(self, sandbox_id: str) -> str:
        base = self.server.url.replace("http://", "ws://")
        return (
            f"{base}/api/v1/organizations/{self.org}/repositories/data/sandboxes/{sandbox_id}/exec"
        )

    def connect(self, sandbox_id: str = "box", token: str | None = None) -> ClientConnection:
        headers = {"Authorization": f"Bearer {token or self.owner.token}"}
        return connect(self.url(sandbox_id), additional_headers=headers, open_timeout=10)


@pytest.fixture
def world(container: Container, tmp_path: Path) -> Iterator[World]:
    runtime, sandboxes = FakeRuntime(), FakeSandboxes()
    mount = tmp_path / "mount"
    mount.mkdir()
    sandboxes.boxes["box"] = FakeSandbox("box", str(mount))
    container.services["sandbox_runtime"] = runtime
    container.services["sandboxes"] = sandboxes
    with LiveServer(container) as server:
        from litestar.testing import TestClient

        from interfaces.http.app import create_app

        owner = person(container)
        with TestClient(create_app(container, run_background=False)) as client:
            org = create_org(client, owner)["name"]
        yield World(server, owner, org, runtime, sandboxes, mount)


def run(ws: ClientConnection, cmd: list[str], **launch: Any) -> tuple[bytes, bytes, dict[str, Any]]:
    ws.send(b"\x00" + json.dumps({"cmd": cmd, **launch}).encode())
    return collect(ws)


def collect(ws: ClientConnection) -> tuple[bytes, bytes, dict[str, Any]]:
    out, err = b"", b""
    while True:
        frame = ws.recv(timeout=20)
        assert isinstance(frame, bytes)
        if frame[:1] == b"\x03":
            out += frame[1:]
        elif frame[:1] == b"\x04":
            err += frame[1:]
        elif frame[:1] == b"\x05":
            return out, err, json.loads(frame[1:])


def closed_by_server(ws: ClientConnection) -> bool:
    try:
        ws.recv(timeout=5)
    except Exception as e:  # ConnectionClosedOK
        return type(e).__name__.startswith("ConnectionClosed")
    return False


def test_stdout_stderr_and_exit_code_arrive_in_their_frames(world: World) -> None:
    with world.connect() as ws:
        out, err, end = run(ws, ["sh", "-c", "echo hi; echo err >&2; exit 3"])
        assert (out, err, end["exit_code"], end["reason"]) == (b"hi\n", b"err\n", 3, "exited")
        assert closed_by_server(ws)
    assert world.sandboxes.execs == [
        {
            "sandbox": "box",
            "by": world.owner.id,
            "argv": ["sh", "-c", "echo hi; echo err >&2; exit 3"],
            "cwd": str(world.mountpoint),
            "exit": 3,
        }
    ]


def test_stdin_frames_then_eof_feed_the_child(world: World) -> None:
    with world.connect() as ws:
        ws.send(b"\x00" + json.dumps({"cmd": ["cat"]}).encode())
        ws.send(b"\x01abc")
        ws.send("a text frame is ignored")
        ws.send(b"")  # an empty frame too
        ws.send(b"\x09unknown type")
        ws.send(b"\x01def")
        ws.send(b"\x02")
        out, err, end = collect(ws)
    assert (out, err, end["exit_code"]) == (b"abcdef", b"", 0)


def test_a_child_reading_stdin_the_client_never_sends_is_not_left_waiting(world: World) -> None:
    started = time.monotonic()
    with world.connect() as ws:
        out, _, end = run(ws, ["cat"])
    assert (out, end["exit_code"]) == (b"", 0)
    assert time.monotonic() - started < 10


def test_env_is_merged_over_the_containers_and_cwd_defaults_to_the_mountpoint(
    world: World, tmp_path: Path
) -> None:
    script = 'echo "$FOO $FROM_CONTAINER"; pwd'
    with world.connect() as ws:
        out, _, _ = run(ws, ["sh", "-c", script], env={"FOO": "bar"})
    assert out == f"bar yes\n{world.mountpoint}\n".encode()
    with world.connect() as ws:
        out, _, _ = run(ws, ["pwd"], cwd=str(tmp_path))
    assert out == f"{tmp_path}\n".encode()
    assert all("bar" not in json.dumps(e) for e in world.sandboxes.execs)  # env never recorded


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\x01stdin first", "protocol_error"),
        (b"\x00not json", "invalid_launch"),
        (b'\x00{"cmd": []}', "invalid_launch"),
        (b'\x00{"cmd": ["ls"], "env": {"A": 1}}', "invalid_launch"),
        (b'\x00{"cmd": ["ls"], "cwd": "relative"}', "invalid_launch"),
    ],
)
def test_a_bad_first_frame_ends_with_an_exit_frame_naming_the_problem(
    world: World, frame: bytes, reason: str
) -> None:
    with world.connect() as ws:
        ws.send(frame)
        _, _, end = collect(ws)
        assert (end["exit_code"], end["reason"]) == (-1, reason) and end["error"]
        assert closed_by_server(ws)
    assert world.runtime.processes == []


def test_a_missing_program_reports_its_exit_code(world: World) -> None:
    with world.connect() as ws:
        _, err, end = run(ws, ["sh", "-c", "exec no-such-program-xyz"])
    assert end["exit_code"] == 127 and b"not found" in err


def test_a_client_that_leaves_kills_its_child_and_the_exec_is_recorded(world: World) -> None:
    with world.connect() as ws:
        ws.send(b"\x00" + json.dumps({"cmd": ["sleep", "60"]}).encode())
        deadline = time.monotonic() + 10
        while not world.runtime.processes and time.monotonic() < deadline:
            time.sleep(0.05)
    deadline = time.monotonic() + 10
    while not world.sandboxes.execs and time.monotonic() < deadline:
        time.sleep(0.05)
    assert world.runtime.processes[0].killed
    assert world.sandboxes.execs[0]["exit"] == -1


def refused(world: World, sandbox_id: str = "box", token: str | None = None) -> tuple[int, dict]:
    with pytest.raises(InvalidStatus) as caught:
        world.connect(sandbox_id, token)
    response = caught.value.response
    return response.status_code, json.loads(response.body or b"{}")


def test_refusals_are_http_answers_with_the_error_body(world: World, container: Container) -> None:
    status, body = refused(world, "nope")
    assert (status, body["code"]) == (404, "NOT_FOUND") and set(body) == {
        "message",
        "code",
        "request_id",
    }
    status, body = refused(world, token="tuk-invalid")
    assert (status, body["code"]) == (401, "UNAUTHORIZED")
    outsider = person(container)
    status, body = refused(world, token=outsider.token)
    assert status == 404 and body["message"] == f"organization '{world.org}' not found"
    world.sandboxes.boxes["done"] = FakeSandbox("done", "/sandbox", status="done")
    assert refused(world, "done")[0] == 410
    world.sandboxes.boxes["starting"] = FakeSandbox("starting", "/sandbox", status="starting")
    assert refused(world, "starting")[0] == 503
    world.sandboxes.boxes["far"] = FakeSandbox("far", "/sandbox", engine="another-host")
    assert refused(world, "far")[0] == 503
