"""SandboxRunner: runs one claimed sandbox from its tree to its outcome.

The steps: open the staging session (id = sandbox id, based on the head captured at create),
resolve the environment (secrets), make sure the image is there, materialize the tree, prepare
and start the container, pump its output into the log store, wait (cancel, finish and timeout
are watched meanwhile), then collect the changes and publish them through the one commit path,
or roll back. Every transition is an event on the sandbox. A run that finds the sandbox
claimed before (its worker died) re-attaches to the surviving container or ends the sandbox
as `failed/sandbox_lost`; a session that already committed is never committed again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from application.principal import Principal
from application.sandboxes.app import SandboxesApplication
from application.sandboxes.log_pump import LogPump, log_extent
from application.sandboxes.network_services import RunNetworkServices
from application.sandboxes.ports import (
    LABEL_SANDBOX,
    ChangeCollector,
    ContainerRuntime,
    ContainerSpec,
    Exit,
    Handle,
    ImageNotFound,
    Limits,
    LogStore,
    SandboxGone,
    TreeEntry,
    TreeStore,
)
from application.sandboxes.publishing import Publisher, PublishOutcome, SandboxSessions
from application.secrets.ports import SandboxEnvironment
from domain.sandboxes.sandbox import Sandbox
from domain.sandboxes.status import CANCELLED, DONE, ERRORED, FAILED

log = structlog.get_logger("tilde.sandboxes")


TreeEntries = Callable[[str, str, str], Iterator[TreeEntry]]


@dataclass
class RunnerConfig:
    """Limits and timings of runs (from settings)."""

    limits: Limits
    user: str = "1000:1000"
    pull_timeout: float = 60.0
    poll_interval: float = 0.25
    labels: Mapping[str, str] = field(default_factory=dict)
    # Where triggered sandboxes' changes files are written (None: no changes files), and
    # where the triggers context's `trigger_changes` streams them from (looked up per run:
    # that context is built after this one).
    scratch: Path | None = None
    services: Mapping[str, Any] = field(default_factory=dict)


# Where a triggered sandbox finds the changes that fired it (TILDE_TRIGGER_CHANGES).
TRIGGER_CHANGES_PATH = "/.tilde/trigger-changes.ndjson"


class Stop(Exception):
    """The run ends early with (status, reason, message)."""

    def __init__(self, status: str, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.status, self.reason, self.message = status, reason, message


class SandboxRunner:
    """Runs sandboxes on one engine; `run` is idempotent per sandbox (see the module doc)."""

    def __init__(
        self,
        app: SandboxesApplication,
        runtime: ContainerRuntime,
        trees: TreeStore,
        entries: TreeEntries,
        collector: ChangeCollector,
        publisher: Publisher,
        sessions: SandboxSessions,
        logs: LogStore,
        config: RunnerConfig,
        environment: SandboxEnvironment | None = None,
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.trees = trees
        self.entries = entries
        self.collector = collector
        self.publisher = publisher
        self.sessions = sessions
        self.logs = logs
        self.config = config
        self.environment = environment
        # Set when this process stops: runs let go (containers keep running) for re-attaching.
        self.abandon = threading.Event()
        self.network = RunNetworkServices(lambda: self.config.services, runtime)

    # -- the run ------------------------------------------------------------------------------
    def run(self, sandbox_id: str, worker: str) -> None:
        sandbox = self.app.sandbox(sandbox_id)
        if sandbox.is_terminal:
            return
        recovering = sandbox.attempts > 0
        sandbox = self.app.claim(sandbox_id, worker)
        log.info("sandbox_claimed", sandbox=sandbox_id, worker=worker, attempt=sandbox.attempts)
        handle: Handle | None = None
        tree_key = (sandbox.repository_id, sandbox.base_commit_id, sandbox.path_prefix)
        lower: Path | None = None
        pump: LogPump | None = None
        abandoned = False
        try:
            if recovering:
                handle = self._recover(sandbox)
            if sandbox.cancel_requested:
                raise Stop(CANCELLED, sandbox.cancel_requested, "cancelled")
            lower = self._tree(sandbox)
            if handle is None:
                handle = self._prepare(sandbox, lower)
                self.network.open(handle)
                pump = LogPump(self.runtime, self.logs, handle, skip=0)
                self.runtime.start(handle)
            else:
                self.network.open(handle)
                pump = LogPump(self.runtime, self.logs, handle, skip=self._logged_bytes(sandbox_id))
            pump.start()
            self.app.transition(sandbox_id, lambda s: s.start())
            ended = self._watch(sandbox_id, handle)
            if isinstance(ended, str):  # finish: the main process ends, output with it
                self.runtime.stop(handle)
            pump.join(10)  # every byte is in the log before the outcome is
            self._finish(sandbox_id, handle, lower, ended)
        except _Done as done:
            outcome = done.outcome
            self._end(
                sandbox_id,
                DONE,
                outcome.kind,
                exit_code=0,
                commit_id=outcome.commit_id,
                web_url=outcome.web_url,
            )
        except _Abandoned:
            abandoned = True
            log.info("sandbox_abandoned", sandbox=sandbox_id, worker=worker)
        except Stop as stop:
            if handle is not None:
                self._stop(handle)
            if pump is not None:
                pump.join(5)
            self._end(sandbox_id, stop.status, stop.reason, error_message=stop.message)
        except Exception as e:  # any other failure ends the sandbox, never a hang
            log.exception("sandbox_failed", sandbox=sandbox_id)
            if handle is not None:
                self._stop(handle)
            if pump is not None:
                pump.join(5)
            self._end(
                sandbox_id, FAILED, "internal_error", error_message=f"{type(e).__name__}: {e}"
            )
        finally:
            if not abandoned:
                self._clean_up(sandbox_id, handle, pump, tree_key if lower else None)
            self.network.forget(sandbox_id)

    def _changes_file(self, sandbox_id: str) -> Path | None:
        scratch = self.config.scratch
        return scratch / f"{sandbox_id}.ndjson" if scratch is not None else None

    def _trigger_changes(self, sandbox: Sandbox, env: dict[str, str]) -> dict[str, Path]:
        """A triggered sandbox's changes file (outside the mount, read-only, never part of its
        commit), named to it by TILDE_TRIGGER_CHANGES; {} for other sandboxes."""
        trigger = sandbox.trigger or {}
        source = self.config.services.get("trigger_changes")
        path = self._changes_file(str(sandbox.id))
        if not trigger.get("conditions") or source is None or path is None:
            return {}
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with open(partial, "wb") as out:
            for line in source(
                sandbox.repository_id, int(trigger["commit_seq"]), trigger["conditions"]
            ):
                out.write(line)
        partial.chmod(0o444)
        partial.replace(path)
        env.setdefault("TILDE_TRIGGER_CHANGES", TRIGGER_CHANGES_PATH)
        return {TRIGGER_CHANGES_PATH: path}

    def _clean_up(
        self,
        sandbox_id: str,
        handle: Handle | None,
        pump: LogPump | None,
        tree_key: tuple[str, str, str] | None,
    ) -> None:
        if pump is not None:
            pump.join(10)
        self.network.close(sandbox_id)
        self.logs.close(sandbox_id)
        if handle is not None:
            try:
                self.runtime.remove(handle)
            except Exception:
                log.warning("sandbox_remove_failed", sandbox=sandbox_id, exc_info=True)
        changes_file = self._changes_file(sandbox_id)
        if changes_file is not None:
            changes_file.unlink(missing_ok=True)
        if tree_key is not None and tree_key[1]:
            try:
                self.trees.release(*tree_key)
            except Exception:
                log.warning("sandbox_tree_release_failed", sandbox=sandbox_id, exc_info=True)

    def _recover(self, sandbox: Sandbox) -> Handle | None:
        """After a lost worker: a committed session ends the run as committed (never twice);
        a surviving container is re-attached; no container ends it as lost."""
        sid = str(sandbox.id)
        outcome = self.sessions.outcome(sandbox)
        if outcome is not None:
            raise _Done(outcome)
        handle = self.runtime.find(sid)
        if handle is None:
            if sandbox.handle or sandbox.status == "running":
                raise Stop(FAILED, "sandbox_lost", "the sandbox's worker and container are gone")
            return None  # it died before its container existed: start afresh
        log.info("sandbox_reattached", sandbox=sid, container=handle.container_id)
        return handle

    def _prepare(self, sandbox: Sandbox, lower: Path) -> Handle:
        sid = str(sandbox.id)
        self.sessions.open(sandbox)
        env = self._environment(sandbox)
        try:
            self.runtime.ensure_image(sandbox.image, pull_timeout=self.config.pull_timeout)
        except ImageNotFound as e:
            raise Stop(
                FAILED, "image_not_found", f"image '{sandbox.image}' was not found: {e}"
            ) from None
        files = self._trigger_changes(sandbox, env)
        spec = ContainerSpec(
            sandbox_id=sid,
            image=sandbox.image,
            mode=sandbox.mode,  # type: ignore[arg-type]
            command=sandbox.command,
            env=env,
            mountpoint=sandbox.mountpoint,
            lower=lower,
            user=self.config.user,
            limits=self.config.limits,
            labels={**self.config.labels, LABEL_SANDBOX: sid},
            files=files,
            network_env=self.network.environment(sid),
        )
        handle = self.runtime.prepare(spec)
        self.app.transition(
            sid,
            lambda s: s.prepared(
                handle.engine, handle.container_id, handle.volume_name, handle.network_name
            ),
        )
        return handle

    def _environment(self, sandbox: Sandbox) -> dict[str, str]:
        if self.environment is None:
            return dict(sandbox.env_vars)
        agent = (
            (sandbox.run_as or {}).get("id")
            if (sandbox.run_as or {}).get("type") == "agent"
            else None
        )
        return self.environment.environment_for(
            sandbox.organization_id, sandbox.repository_id, sandbox.env_vars, agent
        )

    def _tree(self, sandbox: Sandbox) -> Path:
        return self.trees.tree(
            sandbox.repository_id,
            sandbox.base_commit_id,
            sandbox.path_prefix,
            self.entries(sandbox.repository_id, sandbox.base_commit_id, sandbox.path_prefix),
        )

    def _watch(self, sandbox_id: str, handle: Handle) -> Exit | str:
        """Wait for the main process, a finish or cancel request, or the timeout: the Exit,
        or "finish"."""
        sandbox = self.app.sandbox(sandbox_id)
        deadline = time.monotonic() + float(sandbox.timeout_seconds)
        while True:
            exit_ = self.runtime.wait(handle, self.config.poll_interval)
            if exit_ is not None:
                return exit_
            if self.abandon.is_set():
                raise _Abandoned()
            sandbox = self.app.sandbox(sandbox_id)
            if sandbox.is_terminal:
                raise Stop(sandbox.status, sandbox.status_reason, sandbox.error_message)
            if sandbox.cancel_requested:
                raise Stop(CANCELLED, sandbox.cancel_requested, "cancelled")
            if sandbox.finish_requested:
                return "finish"
            if time.monotonic() >= deadline:
                raise Stop(
                    FAILED,
                    "timeout",
                    f"the sandbox ran longer than its timeout of {sandbox.timeout_seconds} s",
                )

    def _finish(self, sandbox_id: str, handle: Handle, lower: Path, ended: Exit | str) -> None:
        # Before the outcome is recorded: whoever sees the sandbox ended finds its credentials
        # already revoked.
        self.network.close(sandbox_id)
        sandbox = self.app.sandbox(sandbox_id)
        if isinstance(ended, Exit):
            if ended.disk_exceeded:
                raise Stop(
                    FAILED,
                    "policy_violation",
                    "the sandbox wrote more than its disk cap of "
                    f"{self.config.limits.disk_bytes} bytes",
                )
            if sandbox.mode == "service":
                raise Stop(FAILED, "sandbox_lost", "the service sandbox's container stopped")
            if ended.exit_code != 0:
                self._rollback(sandbox, "exit_non_zero")
                reason = " (out of memory)" if ended.oom_killed else ""
                self.app.finish(
                    sandbox_id,
                    ERRORED,
                    "exit_non_zero",
                    exit_code=ended.exit_code,
                    error_message=f"the command exited with code {ended.exit_code}{reason}",
                )
                return
        self._publish(sandbox, handle, lower)

    def _publish(self, sandbox: Sandbox, handle: Handle, lower: Path) -> None:
        sid = str(sandbox.id)
        principal = Principal(
            type=sandbox.principal["type"],
            id=sandbox.principal["id"],
            name=sandbox.principal.get("name", ""),
            via="sandbox",
            organization_id=sandbox.organization_id,
        )
        changes = self.collector.changes(self.runtime.upper(handle), lower)
        outcome = self.publisher.publish(sandbox, changes, principal)
        if outcome.kind == "conflict":
            self._rollback(sandbox, "commit_failed")
            paths = ", ".join(outcome.conflicts[:20])
            self.app.finish(
                sid,
                FAILED,
                "commit_failed",
                exit_code=0,
                error_message=f"the commit conflicts with a concurrent commit on: {paths}",
            )
            return
        if outcome.kind == "no_changes":
            self._rollback(sandbox, "no_changes")
        self.app.finish(
            sid,
            DONE,
            outcome.kind,
            exit_code=0,
            commit_id=outcome.commit_id,
            web_url=outcome.web_url,
        )

    # -- endings ------------------------------------------------------------------------------
    def _stop(self, handle: Handle) -> None:
        try:
            self.runtime.stop(handle)
        except SandboxGone:
            pass
        except Exception:
            log.warning("sandbox_stop_failed", sandbox=handle.sandbox_id, exc_info=True)

    def _rollback(self, sandbox: Sandbox, reason: str) -> None:
        try:
            self.sessions.rollback(sandbox, reason)
        except Exception:
            log.warning("sandbox_rollback_failed", sandbox=str(sandbox.id), exc_info=True)

    def _end(self, sandbox_id: str, status: str, reason: str, **outcome: Any) -> None:
        self.network.close(sandbox_id)
        sandbox = self.app.sandbox(sandbox_id)
        if sandbox.is_terminal:
            return
        if status != DONE:
            self._rollback(sandbox, reason)
        self.app.finish(sandbox_id, status, reason, **outcome)

    def _logged_bytes(self, sandbox_id: str) -> int:
        return log_extent(self.logs, sandbox_id)[1]


class _Abandoned(Exception):
    """This process stops: the run is left to the worker that claims it next."""


class _Done(Stop):
    """A recovered run whose session already committed (the outcome is that commit)."""

    def __init__(self, outcome: PublishOutcome) -> None:
        super().__init__(DONE, outcome.kind)
        self.outcome = outcome
