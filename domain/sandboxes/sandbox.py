"""The Sandbox aggregate: one container run on a repository's tree, from request to outcome."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.sandboxes.request import SandboxRequest
from domain.sandboxes.status import (
    CANCELLED,
    RUNNING,
    STARTING,
    TERMINAL,
    check_pair,
)
from domain.shared.errors import Conflict, Invalid
from domain.shared.scoped import OrgAggregate, OrgCreated, OrgEvent, start_state
from domain.shared.values import Actor, stamp


class Sandbox(OrgAggregate):
    """Its lifecycle: requested → claimed by a worker → prepared in an engine → running →
    finished with one (status, status_reason) pair. Env values other than the request's own
    never enter it (secrets are resolved by the runner at start)."""

    if TYPE_CHECKING:
        repository_id: str
        repository_name: str
        image: str
        command: list[str] | None
        mountpoint: str
        path_prefix: str
        timeout_seconds: int
        mode: str
        env_vars: dict[str, str]
        run_as: dict[str, str] | None
        principal: dict[str, str]
        base_seq: int
        base_commit_id: str
        trigger: dict[str, str]
        status: str
        status_reason: str
        worker: str
        attempts: int
        handle: dict[str, str]
        finish_requested: bool
        cancel_requested: str
        exit_code: int | None
        commit_id: str
        web_url: str
        error_message: str
        created_at: str
        updated_at: str
        finished_at: str | None

    class Requested(OrgCreated):
        """A sandbox was asked for (by a user, a role, an agent or a trigger)."""

        repository_id: str
        repository_name: str
        image: str
        command: list[str] | None
        mountpoint: str
        path_prefix: str
        timeout_seconds: int
        mode: str
        env_vars: dict[str, str]
        run_as: dict[str, str] | None
        # Who the run acts as (run_as, else the creator): it authors the commit.
        principal: dict[str, str]
        base_seq: int
        base_commit_id: str
        # {"id", "name", "commit_id"} when a trigger created it; {} otherwise.
        trigger: dict[str, str]

        def apply(self, sandbox: Sandbox) -> None:
            start_state(sandbox, self)
            for name in (
                "repository_id", "repository_name", "image", "command", "mountpoint",
                "path_prefix", "timeout_seconds", "mode", "env_vars", "run_as", "principal",
                "base_seq", "base_commit_id", "trigger",
            ):  # fmt: skip
                setattr(sandbox, name, getattr(self, name))
            sandbox.status, sandbox.status_reason = STARTING, "created"
            sandbox.worker, sandbox.attempts, sandbox.handle = "", 0, {}
            sandbox.finish_requested, sandbox.cancel_requested = False, ""
            sandbox.exit_code, sandbox.commit_id, sandbox.web_url = None, "", ""
            sandbox.error_message = ""
            sandbox.created_at = sandbox.updated_at = stamp(self.timestamp)
            sandbox.finished_at = None

    class Claimed(OrgEvent):
        """A worker took the sandbox to run it (again, after a lost worker)."""

        worker: str
        attempt: int

        def apply(self, sandbox: Sandbox) -> None:
            sandbox.worker, sandbox.attempts = self.worker, self.attempt
            sandbox.status, sandbox.status_reason = STARTING, "initializing"
            sandbox.updated_at = stamp(self.timestamp)

    class Prepared(OrgEvent):
        """Its container, volume and network exist in `engine` (how exec and logs reach it)."""

        engine: str
        container_id: str
        volume_name: str
        network_name: str

        def apply(self, sandbox: Sandbox) -> None:
            sandbox.handle = {
                "engine": self.engine,
                "container_id": self.container_id,
                "volume_name": self.volume_name,
                "network_name": self.network_name,
            }
            sandbox.updated_at = stamp(self.timestamp)

    class Started(OrgEvent):
        """The container runs: exec, logs and (service mode) the SDK's shell may attach."""

        def apply(self, sandbox: Sandbox) -> None:
            sandbox.status, sandbox.status_reason = RUNNING, ""
            sandbox.updated_at = stamp(self.timestamp)

    class ExecRecorded(OrgEvent):
        """A command ran inside the sandbox (`/exec`): who, what, where, how it ended.
        Never the env values it was given."""

        argv: list[str]
        cwd: str
        exit_code: int
        duration_ms: int

        def apply(self, sandbox: Sandbox) -> None:
            pass

    class TerminalAttached(OrgEvent):
        """A client attached to the terminal of an interactive sandbox: who, and when."""

        def apply(self, sandbox: Sandbox) -> None:
            pass

    class TerminalDetached(OrgEvent):
        """That client left, or the shell ended (`exited`): how long it was attached."""

        duration_ms: int
        exited: bool

        def apply(self, sandbox: Sandbox) -> None:
            pass

    class FinishRequested(OrgEvent):
        """A service sandbox was asked to end and commit."""

        def apply(self, sandbox: Sandbox) -> None:
            sandbox.finish_requested = True
            sandbox.updated_at = stamp(self.timestamp)

    class CancelRequested(OrgEvent):
        """The sandbox was asked to stop and roll back."""

        reason: str

        def apply(self, sandbox: Sandbox) -> None:
            sandbox.cancel_requested = self.reason
            sandbox.updated_at = stamp(self.timestamp)

    class Finished(OrgEvent):
        """The outcome, once: (status, status_reason) and what the client reads with it."""

        status: str
        status_reason: str
        exit_code: int | None
        commit_id: str
        web_url: str
        error_message: str

        def apply(self, sandbox: Sandbox) -> None:
            sandbox.status, sandbox.status_reason = self.status, self.status_reason
            sandbox.exit_code = self.exit_code
            sandbox.commit_id, sandbox.web_url = self.commit_id, self.web_url
            sandbox.error_message = self.error_message
            sandbox.updated_at = sandbox.finished_at = stamp(self.timestamp)

    # -- commands ---------------------------------------------------------------------------
    @classmethod
    def request(
        cls,
        *,
        sandbox_id: UUID,
        organization_id: str,
        repository_id: str,
        repository_name: str,
        request: SandboxRequest,
        principal: dict[str, str],
        base_seq: int,
        base_commit_id: str,
        trigger: dict[str, str] | None,
        actor: Actor,
    ) -> Sandbox:
        sandbox: Sandbox = cls._start(
            cls.Requested,
            id=sandbox_id,
            organization_id=organization_id,
            actor=actor,
            repository_id=repository_id,
            repository_name=repository_name,
            image=request.image,
            command=request.command,
            mountpoint=request.mountpoint,
            path_prefix=request.path_prefix,
            timeout_seconds=request.timeout_seconds,
            mode=request.mode,
            env_vars=dict(request.env_vars),
            run_as=None
            if request.run_as is None
            else {"type": request.run_as.type, "id": request.run_as.id},
            principal=dict(principal),
            base_seq=base_seq,
            base_commit_id=base_commit_id,
            trigger=dict(trigger or {}),
        )
        return sandbox

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def claim(self, worker: str) -> None:
        if self.is_terminal:
            raise Conflict("sandbox already finished")
        self._act(self.Claimed, Actor.system(), worker=worker, attempt=self.attempts + 1)

    def prepared(self, engine: str, container_id: str, volume_name: str, network: str) -> None:
        self._act(
            self.Prepared,
            Actor.system(),
            engine=engine,
            container_id=container_id,
            volume_name=volume_name,
            network_name=network,
        )

    def start(self) -> None:
        if self.status == STARTING:
            self._act(self.Started, Actor.system())

    def record_exec(
        self, actor: Actor, argv: list[str], cwd: str, exit_code: int, duration_ms: int
    ) -> None:
        self._act(
            self.ExecRecorded,
            actor,
            argv=list(argv),
            cwd=cwd,
            exit_code=int(exit_code),
            duration_ms=max(0, int(duration_ms)),
        )

    def record_terminal(
        self, actor: Actor, *, attached: bool, duration_ms: int = 0, exited: bool = False
    ) -> None:
        if attached:
            self._act(self.TerminalAttached, actor)
        else:
            self._act(
                self.TerminalDetached,
                actor,
                duration_ms=max(0, int(duration_ms)),
                exited=bool(exited),
            )

    def request_finish(self, actor: Actor) -> None:
        if self.mode != "service":
            raise Invalid("only service sandboxes can be finished; this one ends on its own")
        if self.is_terminal:
            raise Conflict(f"sandbox already finished ({self.status})")
        if self.cancel_requested:
            raise Conflict("sandbox is being cancelled")
        if not self.finish_requested:
            self._act(self.FinishRequested, actor)

    def request_cancel(self, actor: Actor, reason: str = "cancelled_by_user") -> None:
        check_pair(CANCELLED, reason)
        if self.is_terminal:
            raise Conflict(f"sandbox already finished ({self.status})")
        if not self.cancel_requested:
            self._act(self.CancelRequested, actor, reason=reason)

    def finish(
        self,
        status: str,
        reason: str,
        *,
        exit_code: int | None = None,
        commit_id: str = "",
        web_url: str = "",
        error_message: str = "",
    ) -> bool:
        """Record the outcome; False (nothing recorded) when one is already recorded."""
        check_pair(status, reason)
        if status not in TERMINAL:
            raise ValueError(f"{status!r} is not a terminal status")
        if self.is_terminal:
            return False
        self._act(
            self.Finished,
            Actor.system(),
            status=status,
            status_reason=reason,
            exit_code=exit_code,
            commit_id=commit_id,
            web_url=web_url,
            error_message=error_message[:4000],
        )
        return True

    def record(self) -> dict[str, Any]:
        """What the runner and `/exec` need of it (status, engine, handle, mountpoint)."""
        return {
            "id": str(self.id),
            "organization_id": self.organization_id,
            "repository_id": self.repository_id,
            "repository_name": self.repository_name,
            "status": self.status,
            "status_reason": self.status_reason,
            "exit_code": self.exit_code,
            "mode": self.mode,
            "mountpoint": self.mountpoint,
            "engine": self.handle.get("engine", ""),
            "container_id": self.handle.get("container_id", ""),
            "volume_name": self.handle.get("volume_name", ""),
            "network_name": self.handle.get("network_name", ""),
        }
