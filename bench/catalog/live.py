"""Phase B's stack: `tilde-server serve` in a child process, its owner's API key, and the CPU a
phase costs the server, this (client) process and the machine."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def cpu_seconds(pid: int) -> float:
    """CPU time of process `pid` and of its live descendants (`serve --workers N`'s
    processes, each server's blob writer process, `infra.localfs.writer_process`), plus the
    children it has reaped."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[str, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):  # gone meanwhile
                stats[entry] = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
    children: dict[str, list[str]] = {}
    for entry, fields in stats.items():
        children.setdefault(fields[1], []).append(entry)
    own = stats.get(str(pid)) or Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    total = sum(int(v) for v in own[11:15]) / tick  # utime, stime, cutime, cstime
    todo = list(children.get(str(pid), []))
    while todo:
        entry = todo.pop()
        total += (int(stats[entry][11]) + int(stats[entry][12])) / tick
        todo += children.get(entry, [])
    return total


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL server process on this machine (its backends do the
    statements' work; 0 without one)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name, _, rest = stat.partition(" (")[2].rpartition(")")
        if name == "postgres":
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


@dataclass
class Usage:
    """CPU used during a phase: server process, this (client) process, the whole machine."""

    server_pid: int
    started: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    postgres_cpu: float = 0.0
    busy: tuple[float, float] = (0.0, 0.0)

    def __enter__(self) -> Usage:
        self.started = time.perf_counter()
        self.server_cpu = cpu_seconds(self.server_pid)
        self.client_cpu = time.process_time()
        self.busy = machine_busy()
        self.postgres_cpu = postgres_cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        busy, total = machine_busy()
        self.result = {
            "wall_seconds": time.perf_counter() - self.started,
            "server_cpu_seconds": cpu_seconds(self.server_pid) - self.server_cpu,
            "client_cpu_seconds": time.process_time() - self.client_cpu,
            "machine_busy_share": (busy - self.busy[0]) / max(1.0, total - self.busy[1]),
            "postgres_cpu_seconds": postgres_cpu_seconds() - self.postgres_cpu,
        }


def usage_total(results: list[dict[str, float]]) -> dict[str, float]:
    """`Usage.result`s of several rounds as one: seconds added, the busy share weighted by
    each round's wall time."""
    wall = sum(r["wall_seconds"] for r in results)
    total = {
        key: sum(r[key] for r in results)
        for key in ("wall_seconds", "server_cpu_seconds", "client_cpu_seconds",
                    "postgres_cpu_seconds")
    }  # fmt: skip
    total["machine_busy_share"] = (
        sum(r["machine_busy_share"] * r["wall_seconds"] for r in results) / wall if wall else 0.0
    )
    return total


@dataclass
class Live:
    """The served stack: URL, the owner's API key, organization and repository names."""

    url: str
    pid: int
    token: str
    org: str
    repo: str
    repo_id: str


def make_user(container: Any) -> tuple[str, str]:
    """An approved user with an API key, folded into the views; (user id, token)."""
    from domain.shared.values import Actor

    identity = container.identity
    name = f"bench{uuid.uuid4().hex[:8]}"
    user = identity.signup(
        username=name,
        email=f"{name}@example.com",
        full_name="Bench Mark",
        password="correct-horse-battery-staple",
    ).value
    identity.approve(name, Actor.operator())
    result = identity.create_api_key(
        owner_type="user", owner_id=str(user.id), name="bench", actor=Actor("user", str(user.id))
    )
    return str(user.id), str(result.value[1])


@contextlib.contextmanager
def served(
    settings: Any, workers: int = 1, environment: dict[str, str] | None = None
) -> Iterator[Any]:
    """`tilde-server serve [--workers N]` in a child process with production defaults (pool
    size 10); `environment` adds settings (TILDE_…) the child reads."""
    from tests.conftest import ServerProcess

    class Server(ServerProcess):
        def env(self) -> dict[str, str]:
            env = super().env()
            env.pop("TILDE_DB_POOL_SIZE", None)
            env["TILDE_LOG_LEVEL"] = "WARNING"
            env.update(environment or {})
            return env

    server = Server(settings, port=settings.port)
    if workers > 1:
        server.extra_args = ["--workers", str(workers)]
    try:
        try:
            server.start()
        except RuntimeError:  # not healthy within 30 s: a busy machine starts slowly
            wait_healthy(server.url, 120.0)
        yield server
    finally:
        server.stop()  # also when it never turned healthy


def wait_healthy(url: str, seconds: float) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the server at {url} did not turn healthy in {seconds:.0f} s more")
