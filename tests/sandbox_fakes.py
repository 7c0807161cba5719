"""In-memory sandbox adapters for tests of the runner, worker and routes without an engine.

`FakeRuntime` runs a tiny script instead of a container: each command argument is one step,
`echo TEXT`, `write PATH TEXT` (into the upper layer), `sleep SECONDS`, `exit CODE`, `disk`
(the upper layer outgrew its cap). Service sandboxes run until stopped."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from application.principal import Principal
from application.sandboxes.ports import (
    Change,
    ContainerSpec,
    ExecProcess,
    Exit,
    Handle,
    ImageNotFound,
    Limits,
    SandboxNetwork,
    TreeEntry,
)
from application.sandboxes.publishing import PublishOutcome
from domain.sandboxes.sandbox import Sandbox
from infra.contexts import CONTEXTS, Context
from infra.contexts import sandboxes as sandboxes_context
from infra.contexts.sandboxes import SandboxAdapters

LIMITS = Limits(
    memory_bytes=1 << 28, nano_cpus=10**9, pids=64, disk_bytes=1 << 20, tmpfs_bytes=1 << 20
)


@dataclass
class _Box:
    spec: ContainerSpec
    upper: Path
    output: list[bytes] = field(default_factory=list)
    exit: Exit | None = None
    done: threading.Event = field(default_factory=threading.Event)
    stopped: threading.Event = field(default_factory=threading.Event)


class FakeRuntime:
    engine = "fake"

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fake-runtime-"))
        self.boxes: dict[str, _Box] = {}
        self.available = True
        self.started: list[str] = []

    def ping(self) -> bool:
        return self.available

    def ensure_image(self, image: str, *, pull_timeout: float) -> None:
        if image.startswith("missing"):
            raise ImageNotFound(f"{image}: not found")

    def prepare(self, spec: ContainerSpec) -> Handle:
        upper = self.root / spec.sandbox_id
        upper.mkdir(parents=True, exist_ok=True)
        if spec.network_env is not None:
            network = self.network(self._handle(spec.sandbox_id))
            spec = dataclasses.replace(spec, env={**spec.env, **spec.network_env(network)})
        self.boxes[spec.sandbox_id] = _Box(spec, upper)
        return self._handle(spec.sandbox_id)

    def _handle(self, sandbox_id: str) -> Handle:
        return Handle(sandbox_id, self.engine, f"c-{sandbox_id}", f"v-{sandbox_id}", "n")

    def network(self, handle: Handle) -> SandboxNetwork:
        return SandboxNetwork("n", "192.0.2.0/28", "192.0.2.1")

    def start(self, handle: Handle) -> None:
        box = self.boxes[handle.sandbox_id]
        self.started.append(handle.sandbox_id)
        threading.Thread(target=self._run, args=(box,), daemon=True).start()

    def _run(self, box: _Box) -> None:
        code, disk = 0, False
        steps = [] if box.spec.mode == "service" else list(box.spec.command or [])
        for step in steps:
            verb, _, rest = step.partition(" ")
            if verb == "echo":
                box.output.append(rest.encode() + b"\n")
            elif verb == "env":
                box.output.append(f"{rest}={box.spec.env.get(rest, '')}\n".encode())
            elif verb == "write":
                path, _, text = rest.partition(" ")
                (box.upper / path).parent.mkdir(parents=True, exist_ok=True)
                (box.upper / path).write_text(text)
            elif verb == "sleep" and box.stopped.wait(float(rest)):
                code = 137
                break
            elif verb == "exit":
                code = int(rest)
                break
            elif verb == "disk":
                code, disk = 1, True
                break
        if box.spec.mode == "service":
            box.stopped.wait()
            code = 137
        box.exit = Exit(code, disk_exceeded=disk)
        box.done.set()

    def output(self, handle: Handle) -> Iterator[bytes]:
        box = self.boxes[handle.sandbox_id]
        sent = 0
        while True:
            finished = box.done.is_set()
            while sent < len(box.output):
                sent += 1
                yield box.output[sent - 1]
            if finished:
                return
            time.sleep(0.01)

    def wait(self, handle: Handle, timeout: float | None) -> Exit | None:
        box = self.boxes[handle.sandbox_id]
        return box.exit if box.done.wait(timeout) else None

    def exec(
        self,
        handle: Handle,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str,
        *,
        stdin: bool = True,
    ) -> ExecProcess:
        raise NotImplementedError

    def stop(self, handle: Handle) -> None:
        box = self.boxes.get(handle.sandbox_id)
        if box is not None:
            box.stopped.set()
            box.done.wait(5)

    def upper(self, handle: Handle) -> Path:
        return self.boxes[handle.sandbox_id].upper

    def remove(self, handle: Handle) -> None:
        box = self.boxes.pop(handle.sandbox_id, None)
        if box is not None:
            box.stopped.set()
            shutil.rmtree(box.upper, ignore_errors=True)

    def find(self, sandbox_id: str) -> Handle | None:
        return self._handle(sandbox_id) if sandbox_id in self.boxes else None

    def owned(self) -> list[str]:
        return list(self.boxes)


class FakeTrees:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fake-trees-"))
        self.held: dict[tuple[str, str, str], int] = {}

    def tree(
        self, repository_id: str, commit_id: str, prefix: str, entries: Iterator[TreeEntry]
    ) -> Path:
        key = (repository_id, commit_id, prefix)
        self.held[key] = self.held.get(key, 0) + 1
        path = self.root / f"{repository_id}-{commit_id}"
        path.mkdir(exist_ok=True)
        for _ in entries:
            pass
        return path

    def release(self, repository_id: str, commit_id: str, prefix: str) -> None:
        self.held[(repository_id, commit_id, prefix)] -= 1


class FakeCollector:
    def changes(self, upper: Path, lower: Path) -> Iterator[Change]:
        for path in sorted(upper.rglob("*")):
            if path.is_file():
                yield Change(str(path.relative_to(upper)), "put", path)


class FakePublisher:
    """Commits nothing: answers what `outcome` says (default: committed when changed)."""

    def __init__(self) -> None:
        self.outcome: PublishOutcome | None = None
        self.published: list[tuple[str, list[str], str]] = []

    def publish(
        self, sandbox: Sandbox, changes: Iterator[Change], principal: Principal
    ) -> PublishOutcome:
        paths = [c.path for c in changes]
        self.published.append((str(sandbox.id), paths, principal.id))
        if self.outcome is not None:
            return self.outcome
        if not paths:
            return PublishOutcome("no_changes")
        return PublishOutcome("committed", commit_id=f"commit-{len(self.published)}")


@dataclass
class Fakes:
    runtime: FakeRuntime = field(default_factory=FakeRuntime)
    trees: FakeTrees = field(default_factory=FakeTrees)
    collector: FakeCollector = field(default_factory=FakeCollector)
    publisher: FakePublisher = field(default_factory=FakePublisher)

    def adapters(self) -> SandboxAdapters:
        return SandboxAdapters(
            runtime=self.runtime,
            trees=self.trees,
            entries=lambda repo, commit, prefix: iter(()),
            collector=self.collector,
            publisher=self.publisher,
            limits=LIMITS,
        )

    def contexts(self) -> list[Context]:
        """The default registry with the sandboxes context on these fakes."""
        return [
            partial(sandboxes_context.build, adapters=self.adapters())
            if build is sandboxes_context.build
            else build
            for build in CONTEXTS
        ]
