"""Ports of the sandboxes context, one per concern: the container engine (`ContainerRuntime`),
the read-only lower tree a sandbox sees (`TreeStore`), the walk of what a run changed
(`ChangeCollector`) and the durable log of its output (`LogStore`).

Docker implements the runtime today (`infra/docker/`); a Kubernetes runtime would implement the
same Protocol (a pod per sandbox, an ephemeral volume for the upper layer, a NetworkPolicy per
sandbox). Adapters raise the errors below; the application maps them to statuses."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

Mode = Literal["one-shot", "service", "interactive"]

# Every engine resource of a sandbox carries these labels, so a restarted worker finds its
# containers again and a janitor removes what nobody owns, without touching other
# installations that share the engine.
LABEL_SANDBOX = "run.tilde.sandbox"
LABEL_INSTALLATION = "run.tilde.installation"


class RuntimeUnavailable(Exception):
    """No engine reachable (createSandbox answers 503)."""


class ImageNotFound(Exception):
    """The image is neither present nor pullable within the pull timeout."""


class SandboxGone(Exception):
    """The engine no longer has the sandbox's container."""


@dataclass(frozen=True)
class Limits:
    memory_bytes: int
    nano_cpus: int
    pids: int
    # Cap on the bytes a run may write (the overlay's upper layer).
    disk_bytes: int
    tmpfs_bytes: int


@dataclass(frozen=True)
class ContainerSpec:
    sandbox_id: str
    image: str
    mode: Mode
    # None: the image's ENTRYPOINT + CMD (one-shot); ignored in service mode.
    command: Sequence[str] | None
    env: Mapping[str, str]
    mountpoint: str
    # The read-only tree mounted (through an overlay) at `mountpoint`.
    lower: Path
    user: str
    limits: Limits
    labels: Mapping[str, str] = field(default_factory=dict)
    # Host files shown read-only at these container paths (a triggered sandbox's changes file).
    files: Mapping[str, Path] = field(default_factory=dict)
    # Variables that depend on the sandbox's network (its proxy and gateway addresses): called
    # once the network exists, before the container is created; they win over `env`.
    network_env: Callable[[SandboxNetwork], Mapping[str, str]] | None = None


@dataclass(frozen=True)
class SandboxNetwork:
    """A sandbox's own network: only its container is on it; `gateway` is the host's address
    on it, where the worker serves the sandbox (egress proxy, credentials), and only there."""

    name: str
    subnet: str  # CIDR
    gateway: str


class NetworkService(Protocol):
    """Something a worker serves each sandbox at its network's gateway (the egress proxy, the
    credentials endpoint). `open` runs before the container starts and again when a restarted
    worker re-attaches (idempotent); `close` when the sandbox ends (idempotent)."""

    def environment(self, sandbox_id: str, network: SandboxNetwork) -> Mapping[str, str]: ...

    def open(self, sandbox_id: str, network: SandboxNetwork) -> None: ...

    def close(self, sandbox_id: str) -> None: ...


@dataclass(frozen=True)
class Handle:
    """Where a prepared sandbox lives in its engine (recorded on the sandbox)."""

    sandbox_id: str
    engine: str
    container_id: str
    volume_name: str
    network_name: str


@dataclass(frozen=True)
class Exit:
    exit_code: int
    # The upper layer outgrew `Limits.disk_bytes` (the run is a policy violation).
    disk_exceeded: bool = False
    oom_killed: bool = False


class ExecProcess(Protocol):
    """One child started by `/exec`: pipes, not a TTY."""

    def write(self, data: bytes) -> None: ...

    def close_stdin(self) -> None: ...

    def read(self) -> tuple[int, bytes] | None:
        """The next output chunk as (1 stdout | 2 stderr, bytes); None once both are closed."""
        ...

    def wait(self) -> int:
        """The child's exit code (after `read` returned None)."""
        ...

    def kill(self) -> None: ...


class TerminalProcess(Protocol):
    """An attachment to an interactive sandbox's pty (its main process): raw bytes both ways."""

    def write(self, data: bytes) -> None: ...

    def read(self) -> bytes:
        """The next output chunk; b"" once the pty's process ended or the attachment closed."""
        ...

    def resize(self, cols: int, rows: int) -> None: ...

    def exit_code(self) -> int | None:
        """The main process's exit code once it ended (after `read` returned b""); None while
        it still runs (the attachment alone ended)."""
        ...

    def close(self) -> None:
        """Detach; the process keeps running."""
        ...


class TerminalLeases(Protocol):
    """Which client holds a sandbox's terminal, across API processes: one at a time; a lease
    lapses `ttl` seconds after its last renewal (its API process died)."""

    def acquire(self, sandbox_id: str, holder: str, ttl: float) -> bool: ...

    def renew(self, sandbox_id: str, holder: str, ttl: float) -> bool: ...

    def release(self, sandbox_id: str, holder: str) -> None: ...


class ContainerRuntime(Protocol):
    engine: str

    def ping(self) -> bool: ...

    def ensure_image(self, image: str, *, pull_timeout: float) -> None:
        """Present locally, or pulled within `pull_timeout`; else `ImageNotFound`."""
        ...

    def prepare(self, spec: ContainerSpec) -> Handle:
        """Network, overlay volume and container, created but not started."""
        ...

    def network(self, handle: Handle) -> SandboxNetwork | None:
        """The sandbox's network (None when the engine has none for it)."""
        ...

    def start(self, handle: Handle) -> None: ...

    def output(self, handle: Handle) -> Iterator[bytes]:
        """stdout and stderr merged in production order, from the start, until the main
        process ends (service mode: until `stop`)."""
        ...

    def wait(self, handle: Handle, timeout: float | None) -> Exit | None:
        """The main process's end; None when still running after `timeout` seconds."""
        ...

    def exec(
        self,
        handle: Handle,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        *,
        stdin: bool = True,
    ) -> ExecProcess:
        """`env` merged over the container's; `stdin=False` closes the child's stdin at once
        (EOF), for a caller that will never write (the SDK's `stdin=None`)."""
        ...

    def terminal(self, handle: Handle) -> TerminalProcess:
        """Attach to an interactive sandbox's pty (stdin and output), from its current point."""
        ...

    def stop(self, handle: Handle) -> None:
        """Kill the main process (and every exec child); the upper layer stays."""
        ...

    def upper(self, handle: Handle) -> Path:
        """The host path of the overlay's upper layer (what the run wrote)."""
        ...

    def remove(self, handle: Handle) -> None:
        """Container, volume, network and upper layer; idempotent."""
        ...

    def find(self, sandbox_id: str) -> Handle | None:
        """The labelled resources of a sandbox of this installation, if any survive."""
        ...

    def owned(self) -> list[str]:
        """Ids of every sandbox of this installation with resources in the engine."""
        ...


@dataclass(frozen=True)
class TreeEntry:
    path: str
    # Where the bytes are: a blob store key (content address) and its size.
    blob_key: str
    size: int


class TreeStore(Protocol):
    """Read-only trees of commits, materialized once and shared by sandboxes."""

    def tree(
        self, repository_id: str, commit_id: str, prefix: str, entries: Iterator[TreeEntry]
    ) -> Path:
        """A read-only directory with `entries` (paths relative to `prefix`); cached per
        (repository, commit, prefix), so `entries` is only consumed the first time."""
        ...

    def release(self, repository_id: str, commit_id: str, prefix: str) -> None: ...


@dataclass(frozen=True)
class Change:
    # Relative to the mountpoint (the caller maps it back under `path_prefix`).
    path: str
    kind: Literal["put", "delete"]
    # The file holding the new bytes (for puts).
    source: Path | None = None


class ChangeCollector(Protocol):
    def changes(self, upper: Path, lower: Path) -> Iterator[Change]:
        """What a run changed, in O(changes): regular files in `upper` that differ from
        `lower` are puts, whiteouts deletes, opaque directories replace their lower subtree."""
        ...


class LogStore(Protocol):
    """Durable, ordered output chunks of a sandbox, readable from any process."""

    def append(self, sandbox_id: str, seq: int, data: bytes) -> None: ...

    def close(self, sandbox_id: str) -> None:
        """No more chunks will come (readers stop following)."""
        ...

    def read(self, sandbox_id: str, after_seq: int) -> tuple[list[tuple[int, bytes]], bool]:
        """Chunks after `after_seq` and whether the log is closed."""
        ...

    def expire(self, sandbox_id: str) -> None: ...
