"""The Docker runtime on the real engine: hardening proved from inside, the overlay and its disk
cap, output order, exec, service mode, discovery and cleanup (never skipped)."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from docker.errors import APIError

from application.sandboxes.ports import (
    ContainerSpec,
    Exit,
    Handle,
    ImageNotFound,
    Limits,
    RuntimeUnavailable,
    SandboxNetwork,
)
from infra.docker import DockerRuntime, network
from infra.docker.network import allow_sandbox_port
from tests.docker_env import busybox_image, docker_engine, python_image
from tests.sandbox_cleanup import assert_clean, docker_leak_check, remove_all

__all__ = ["busybox_image", "docker_engine", "docker_leak_check", "python_image"]

LIMITS = Limits(
    memory_bytes=256 << 20, nano_cpus=1_000_000_000, pids=64, disk_bytes=32 << 20,
    tmpfs_bytes=8 << 20,
)  # fmt: skip


@pytest.fixture
def runtime(tmp_path: Path, docker_leak_check: None) -> Iterator[DockerRuntime]:
    rt = DockerRuntime(installation=f"test-{uuid.uuid4().hex[:12]}", state_dir=tmp_path / "disks")
    yield rt
    remove_all(rt)
    assert_clean(rt)


@pytest.fixture
def lower(tmp_path: Path) -> Path:
    """A lower tree as the trees helper presents it: owned by the sandbox uid."""
    root = tmp_path / "lower"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("hello\n")
    (root / "sub" / "b.txt").write_text("bye\n")
    for path in (root, root / "sub", root / "a.txt", root / "sub" / "b.txt"):
        os.chown(path, 1000, 1000)
    return root


def spec(image: str, lower: Path, command: list[str] | None, **kw: object) -> ContainerSpec:
    base = ContainerSpec(
        sandbox_id=str(uuid.uuid4()), image=image, mode="one-shot", command=command,
        env={"A": "1"}, mountpoint="/sandbox", lower=lower, user="1000:1000", limits=LIMITS,
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def run(rt: DockerRuntime, s: ContainerSpec) -> tuple[Handle, bytes, Exit]:
    handle = rt.prepare(s)
    rt.start(handle)
    out = b"".join(rt.output(handle))
    done = rt.wait(handle, timeout=60)
    assert done is not None
    return handle, out, done


def test_sandbox_runs_unprivileged_on_a_read_only_root(runtime, busybox_image, lower):
    script = (
        "id -u; touch /x 2>&1; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status;"
        " echo ok > /tmp/t && cat /tmp/t; ls /var/run/docker.sock 2>&1"
    )
    _, out, done = run(runtime, spec(busybox_image, lower, ["sh", "-c", script]))
    text = out.decode()
    assert text.splitlines()[0] == "1000"
    assert "Read-only file system" in text
    assert "CapEff:\t0000000000000000" in text
    assert "NoNewPrivs:\t1" in text
    assert "ok\n" in text
    assert "No such file or directory" in text
    assert done.exit_code != 0 or "docker.sock\n" not in text


def test_fork_bomb_is_contained_by_the_pids_limit(runtime, busybox_image, lower):
    # Counting with builtins only: once the limit is reached nothing can fork any more.
    bomb = (
        "(for i in $(seq 200); do sleep 30 & done) 2>/dev/null;"
        " set -- /proc/[0-9]*; echo spawned $#"
    )
    started = time.monotonic()
    limits = replace(LIMITS, pids=32)
    _, out, done = run(runtime, spec(busybox_image, lower, ["sh", "-c", bomb], limits=limits))
    count = int(out.decode().split("spawned ")[1].split()[0])
    assert 16 <= count <= 32
    assert time.monotonic() - started < 30
    assert done.exit_code == 0


def test_no_route_out_nor_to_the_hosts_services(runtime, python_image, lower, docker_engine):
    # A service on every host address: only the firewall keeps the sandbox off it.
    server = socket.socket()
    server.bind(("0.0.0.0", 0))
    server.listen(8)
    port = server.getsockname()[1]
    ports = [port]
    for var in ("TILDE_TEST_DATABASE_URL", "TILDE_TEST_REDIS_URL"):
        url = os.environ.get(var, "")
        if url:
            ports.append(int(url.rsplit(":", 1)[1].split("/")[0]))
    s = spec(python_image, lower, None)
    handle = runtime.prepare(s)
    network = docker_engine.api.inspect_network(handle.network_name)
    gateway = (
        network["IPAM"]["Config"][0].get("Gateway")
        or network["IPAM"]["Config"][0]["Subnet"].rsplit(".", 1)[0] + ".1"
    )
    hosts = [gateway, "172.17.0.1", "127.0.0.1", "1.1.1.1"]
    hosts += [a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    probe = (
        "import socket,sys\n"
        "for h in sys.argv[1].split(','):\n"
        "  for p in sys.argv[2].split(','):\n"
        "    try:\n"
        "      socket.create_connection((h,int(p)),timeout=1).close(); print('OPEN',h,p)\n"
        "    except OSError as e: print('closed',h,p,e)\n"
    )
    runtime.remove(handle)
    command = ["python3", "-c", probe, ",".join(sorted(set(hosts))), ",".join(map(str, ports))]
    _, out, done = run(runtime, replace(s, command=command))
    server.close()
    assert b"closed" in out
    assert b"OPEN" not in out, out.decode()
    assert done.exit_code == 0


def test_writes_land_in_the_upper_layer_and_the_lower_tree_is_untouched(
    runtime, busybox_image, lower
):
    script = "echo new > c.txt && echo more >> a.txt && rm sub/b.txt && mkdir d && echo x > d/e"
    handle, out, done = run(runtime, spec(busybox_image, lower, ["sh", "-c", script]))
    assert (done.exit_code, done.disk_exceeded, out) == (0, False, b"")
    assert (lower / "a.txt").read_text() == "hello\n"
    assert (lower / "sub" / "b.txt").exists()
    assert not (lower / "c.txt").exists()
    upper = runtime.upper(handle)
    assert (upper / "c.txt").read_text() == "new\n"
    assert (upper / "a.txt").read_text() == "hello\nmore\n"
    assert (upper / "d" / "e").read_text() == "x\n"
    whiteout = os.stat(upper / "sub" / "b.txt", follow_symlinks=False)
    assert os.major(whiteout.st_rdev) == 0 and os.minor(whiteout.st_rdev) == 0


def test_writing_past_the_disk_cap_fails_with_enospc(runtime, busybox_image, lower):
    limits = replace(LIMITS, disk_bytes=16 << 20)
    script = "dd if=/dev/zero of=big bs=1M count=64; echo dd=$?"
    _, out, done = run(runtime, spec(busybox_image, lower, ["sh", "-c", script], limits=limits))
    assert b"No space left on device" in out
    assert done.disk_exceeded
    _, _, small = run(runtime, spec(busybox_image, lower, ["sh", "-c", "echo hi > f"]))
    assert not small.disk_exceeded


def test_output_is_stdout_and_stderr_merged_in_order(runtime, busybox_image, lower):
    script = "echo 1; sleep 0.1; echo 2 >&2; sleep 0.1; echo 3; sleep 0.1; printf '\\377\\n' >&2"
    _, out, done = run(runtime, spec(busybox_image, lower, ["sh", "-c", script]))
    assert out == b"1\n2\n3\n\xff\n"
    assert done == Exit(exit_code=0)


def test_output_attached_after_start_misses_nothing(runtime, busybox_image, lower):
    handle = runtime.prepare(spec(busybox_image, lower, ["sh", "-c", "echo early; exit 7"]))
    runtime.start(handle)
    assert runtime.wait(handle, timeout=30) == Exit(exit_code=7)
    assert b"".join(runtime.output(handle)) == b"early\n"


def test_one_shot_without_command_runs_the_images_default(runtime, busybox_image, lower):
    _, out, done = run(runtime, spec(busybox_image, lower, None))
    assert (out, done.exit_code) == (b"", 0)


def test_exec_with_and_without_stdin_in_a_service_sandbox(runtime, python_image, lower):
    handle = runtime.prepare(spec(python_image, lower, ["ignored"], mode="service"))
    runtime.start(handle)
    assert runtime.wait(handle, timeout=0.5) is None

    child = runtime.exec(handle, ["cat"], {}, "/sandbox")
    child.write(b"hello ")
    child.write(b"world")
    child.close_stdin()
    assert _drain(child) == [(1, b"hello world")]
    assert child.wait() == 0

    started = time.monotonic()
    lonely = runtime.exec(handle, ["cat"], {}, "/sandbox", stdin=False)
    assert _drain(lonely) == []
    assert lonely.wait() == 0
    assert time.monotonic() - started < 5

    script = "echo $A $B; pwd; echo oops >&2; exit 3"
    mixed = runtime.exec(handle, ["sh", "-c", script], {"B": "2"}, "/tmp", stdin=False)
    frames = _drain(mixed)
    assert b"".join(d for s, d in frames if s == 1) == b"1 2\n/tmp\n"
    assert b"".join(d for s, d in frames if s == 2) == b"oops\n"
    assert mixed.wait() == 3

    sleeper = runtime.exec(handle, ["sleep", "60"], {}, "/", stdin=False)
    time.sleep(0.3)
    sleeper.kill()
    runtime.stop(handle)
    done = runtime.wait(handle, timeout=10)
    assert done is not None and done.exit_code != 0
    assert runtime.upper(handle).is_dir()


def test_service_mode_works_with_an_image_without_a_shell(runtime, busybox_image, lower, tmp_path):
    # The python image has no busybox; the sleeper is the host's, mounted read-only.
    handle = runtime.prepare(spec(busybox_image, lower, None, mode="service"))
    runtime.start(handle)
    child = runtime.exec(
        handle, ["sh", "-c", "echo hi > /sandbox/f; ps"], {}, "/sandbox", stdin=False
    )
    out = b"".join(d for _, d in _drain(child))
    assert child.wait() == 0
    assert b"sleep" in out
    runtime.stop(handle)
    assert (runtime.upper(handle) / "f").read_text() == "hi\n"


def test_find_owned_and_remove_see_only_this_installation(runtime, busybox_image, lower, tmp_path):
    other = DockerRuntime(installation=f"test-{uuid.uuid4().hex[:12]}", state_dir=tmp_path / "o")
    handle = runtime.prepare(spec(busybox_image, lower, ["true"]))
    theirs = other.prepare(spec(busybox_image, lower, ["true"]))
    try:
        assert runtime.find(handle.sandbox_id) == handle
        assert runtime.owned() == [handle.sandbox_id]
        assert runtime.find(theirs.sandbox_id) is None
        assert other.owned() == [theirs.sandbox_id]
        runtime.remove(handle)
        runtime.remove(handle)
        assert runtime.find(handle.sandbox_id) is None
        assert runtime.owned() == []
        assert_clean(runtime)
        assert other.find(theirs.sandbox_id) == theirs
    finally:
        other.remove(theirs)
    assert_clean(other)


def test_concurrent_sandboxes_get_their_own_networks(runtime, busybox_image, lower):
    handles: list[Handle] = []
    errors: list[Exception] = []

    def prepare() -> None:
        try:
            handles.append(runtime.prepare(spec(busybox_image, lower, ["true"])))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=prepare) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({h.network_name for h in handles}) == 4


def test_missing_image_and_unreachable_engine(runtime, busybox_image, lower, tmp_path):
    runtime.ensure_image(busybox_image, pull_timeout=5)
    started = time.monotonic()
    with pytest.raises(ImageNotFound, match="tilde-test/missing"):
        runtime.ensure_image("tilde-test/missing:1", pull_timeout=3)
    assert time.monotonic() - started < 10
    nowhere = DockerRuntime(
        installation="test-none", state_dir=tmp_path / "n", url="unix:///nonexistent.sock"
    )
    assert nowhere.ping() is False
    with pytest.raises(RuntimeUnavailable):
        nowhere.prepare(spec(busybox_image, lower, ["true"]))


def _drain(child) -> list[tuple[int, bytes]]:
    frames: list[tuple[int, bytes]] = []
    while (frame := child.read()) is not None:
        if frames and frames[-1][0] == frame[0]:
            frames[-1] = (frame[0], frames[-1][1] + frame[1])
        else:
            frames.append(frame)
    return frames


def test_a_restarted_worker_reattaches_and_replays_the_output(runtime, busybox_image, lower):
    s = spec(busybox_image, lower, ["sh", "-c", "echo before; sleep 0.5; echo after"])
    handle = runtime.prepare(s)
    runtime.start(handle)
    time.sleep(0.2)
    runtime._drop_attachment(handle)  # the first worker dies: its attachment goes with it
    # Another process of the same installation (a worker restarted mid-run).
    again = DockerRuntime(installation=runtime.installation, state_dir=runtime._disks)
    found = again.find(s.sandbox_id)
    assert found == handle
    assert b"".join(again.output(found)) == b"before\nafter\n"
    assert again.wait(found, timeout=10) == Exit(exit_code=0)


def test_memory_limit_kills_with_oom(runtime, python_image, lower):
    limits = replace(LIMITS, memory_bytes=32 << 20)
    hog = ["python3", "-c", "b = bytearray(256 << 20); print(len(b))"]
    _, _, done = run(runtime, spec(python_image, lower, hog, limits=limits))
    assert done.exit_code == 137
    assert done.oom_killed


def test_a_failed_prepare_leaves_nothing_behind(runtime, busybox_image, lower):
    with pytest.raises(ImageNotFound, match="tilde-test/absent"):
        runtime.prepare(spec("tilde-test/absent:1", lower, ["true"]))
    assert_clean(runtime)
    with pytest.raises(APIError):
        runtime.prepare(spec(busybox_image, lower, ["true"], mountpoint="relative"))
    assert_clean(runtime)


def test_network_variables_name_the_sandboxs_own_gateway(runtime, busybox_image, lower):
    seen: list[SandboxNetwork] = []

    def network_env(network: SandboxNetwork) -> dict[str, str]:
        seen.append(network)
        return {"GATEWAY": network.gateway, "A": "overridden"}

    s = spec(busybox_image, lower, ["sh", "-c", "echo $GATEWAY $A"], network_env=network_env)
    handle, out, done = run(runtime, s)
    [network] = seen
    assert runtime.network(handle) == network
    assert network.name == handle.network_name
    assert ipaddress.ip_address(network.gateway) in ipaddress.ip_network(network.subnet)
    assert out.decode().splitlines()[0] == f"{network.gateway} overridden"
    assert done.exit_code == 0
    runtime.remove(handle)
    assert runtime.network(handle) is None


def test_an_allowed_port_is_accepted_above_the_drop(runtime, docker_engine):
    port = 39_871
    allow_sandbox_port(port)
    allow_sandbox_port(port)  # idempotent
    rules = subprocess.run(["iptables", "-w", "-S", "INPUT"], capture_output=True, text=True,
                           check=True).stdout.splitlines()  # fmt: skip
    accept = [i for i, r in enumerate(rules) if f"--dport {port} -j ACCEPT" in r and "tsbx+" in r]
    drop = [i for i, r in enumerate(rules) if r == "-A INPUT -i tsbx+ -j DROP"]
    assert len(accept) == 1 and len(drop) == 1 and accept[0] < drop[0]
    subprocess.run(["iptables", "-w", "-D", "INPUT", "-i", "tsbx+", "-p", "tcp", "--dport",
                    str(port), "-j", "ACCEPT"], check=True)  # fmt: skip
    network._allowed_ports.discard(port)
