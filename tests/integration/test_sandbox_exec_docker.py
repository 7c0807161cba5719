"""`/exec` into a real Docker sandbox (service mode, busybox test image, hardened as in
production) through a live server: the official SDK's frames, exit codes, stdin with and
without EOF, env merged over the container's, cwd defaulting to the mountpoint, a child that
never gets stdin, and 410 once the container is gone."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar.testing import TestClient

from application.sandboxes.ports import ContainerSpec, Limits
from infra.bootstrap import Container
from infra.docker import DockerRuntime
from interfaces.http.app import create_app
from tests.conftest import LiveServer
from tests.docker_env import busybox_image, docker_engine
from tests.integration.test_sandbox_exec_ws import FakeSandbox, FakeSandboxes, World, collect, run
from tests.orgs import create_org, person
from tests.sandbox_cleanup import assert_clean, docker_leak_check, remove_all

__all__ = ["busybox_image", "docker_engine", "docker_leak_check"]

LIMITS = Limits(
    memory_bytes=256 << 20, nano_cpus=1_000_000_000, pids=64, disk_bytes=32 << 20,
    tmpfs_bytes=8 << 20,
)  # fmt: skip


@dataclass
class Box:
    world: World
    runtime: DockerRuntime
    sandbox: FakeSandbox


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    from tests.conftest import make_settings

    yield make_settings(tmp_path, request.param)


@pytest.fixture
def box(
    container: Container, tmp_path: Path, busybox_image: str, docker_leak_check: None
) -> Iterator[Box]:
    runtime = DockerRuntime(
        installation=f"test-{uuid.uuid4().hex[:12]}", state_dir=tmp_path / "disks"
    )
    lower = tmp_path / "lower"
    lower.mkdir()
    (lower / "a.txt").write_text("hello\n")
    for path in (lower, lower / "a.txt"):
        os.chown(path, 1000, 1000)
    sid = str(uuid.uuid4())
    spec = ContainerSpec(
        sandbox_id=sid, image=busybox_image, mode="service", command=None,
        env={"FROM_CONTAINER": "yes"}, mountpoint="/sandbox", lower=lower, user="1000:1000",
        limits=LIMITS,
    )  # fmt: skip
    handle = runtime.prepare(spec)
    runtime.start(handle)
    sandbox = FakeSandbox(sid, "/sandbox", engine=runtime.engine)
    sandboxes = FakeSandboxes({sid: sandbox})
    container.services["sandboxes"] = sandboxes
    container.services["sandbox_runtime"] = runtime

    def record() -> dict[str, object]:
        return {**FakeSandbox.record(sandbox), "container_id": handle.container_id}

    sandbox.record = record  # type: ignore[method-assign]
    try:
        with LiveServer(container) as server:
            owner = person(container)
            with TestClient(create_app(container, run_background=False)) as client:
                org = create_org(client, owner)["name"]
            world = World(server, owner, org, None, sandboxes, Path("/sandbox"))  # type: ignore[arg-type]
            yield Box(world, runtime, sandbox)
    finally:
        remove_all(runtime)
        assert_clean(runtime)


def test_exec_in_a_docker_sandbox_speaks_the_sdks_frames(box: Box) -> None:
    w, sid = box.world, box.sandbox.id
    with w.connect(sid) as ws:
        out, err, end = run(ws, ["sh", "-c", "echo hi; echo err >&2; exit 3"])
    assert (out, err, end["exit_code"]) == (b"hi\n", b"err\n", 3)
    with w.connect(sid) as ws:
        ws.send(b"\x00" + json.dumps({"cmd": ["cat"]}).encode())
        ws.send(b"\x01fed ")
        ws.send(b"\x01through stdin")
        ws.send(b"\x02")
        out, _, end = collect(ws)
    assert (out, end["exit_code"]) == (b"fed through stdin", 0)
    started = time.monotonic()
    with w.connect(sid) as ws:
        out, _, end = run(ws, ["cat"])  # the SDK with stdin=None sends nothing more
    assert (out, end["exit_code"]) == (b"", 0) and time.monotonic() - started < 15
    with w.connect(sid) as ws:
        out, _, _ = run(
            ws, ["sh", "-c", 'echo "$FROM_CONTAINER $X"; pwd; cat a.txt'], env={"X": "x"}
        )
    assert out == b"yes x\n/sandbox\nhello\n"
    with w.connect(sid) as ws:
        out, _, _ = run(ws, ["sh", "-c", "pwd; id -u"], cwd="/tmp")
    assert out == b"/tmp\n1000\n"
    assert [e["exit"] for e in w.sandboxes.execs] == [3, 0, 0, 0, 0]


def test_exec_after_the_container_is_gone_ends_with_an_exit_frame(box: Box) -> None:
    w, sid = box.world, box.sandbox.id
    handle = box.runtime.find(sid)
    assert handle is not None
    box.runtime.remove(handle)
    with w.connect(sid) as ws:
        _, _, end = run(ws, ["true"])
    assert end["exit_code"] == -1 and end["reason"] in ("sandbox_gone", "exec_failed")
