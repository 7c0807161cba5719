"""SandboxesApplication: sandbox commands (create, cancel, finish, record an exec) and the
transitions a runner records, on the sandboxes event store."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol
from uuid import UUID, uuid4

from application.authz import Authorizer, OrgSnapshot
from application.base import Result, TildeApplication
from application.principal import Principal
from domain.catalog.repository import Repository
from domain.sandboxes.request import SandboxRequest, parse_request
from domain.sandboxes.sandbox import Sandbox
from domain.sandboxes.status import CANCELLED
from domain.shared.errors import Forbidden, NotFound, Unavailable
from domain.shared.ids import parse_uuid

DAY = 86_400


class Repositories(Protocol):
    """What sandboxes read of the catalog: a live repository by organization and name."""

    def get_repository(self, org_id: str, name: str, *, read_only: bool = False) -> Repository: ...


class SandboxesApplication(TildeApplication):
    """Sandboxes, event-sourced: each one's request, claims, engine handle, execs, outcome."""

    name = "sandboxes"
    snapshotting_intervals = {Sandbox: 50}

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        repositories: Repositories,
        authorizer: Authorizer,
        runtime_available: Callable[[], bool],
        default_timeout: int = 3600,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, **kwargs)
        self.repositories = repositories
        self.authorizer = authorizer
        # Whether some engine can run sandboxes (createSandbox answers 503 otherwise).
        self.runtime_available = runtime_available
        self.default_timeout = default_timeout

    # -- lookups ------------------------------------------------------------------------------
    def sandbox(self, sandbox_id: str | UUID) -> Sandbox:
        ident = parse_uuid(str(sandbox_id))
        found = self.find(ident, Sandbox) if ident is not None else None
        if found is None:
            raise NotFound("sandbox not found")
        return found

    def find_sandbox(self, sandbox_id: str) -> Sandbox | None:
        ident = parse_uuid(str(sandbox_id))
        return self.find(ident, Sandbox) if ident is not None else None

    def in_repository(self, org_id: str, repo_name: str, sandbox_id: str) -> Sandbox:
        repo = self.repositories.get_repository(org_id, repo_name, read_only=True)
        sandbox = self.sandbox(sandbox_id)
        if sandbox.repository_id != str(repo.id) or sandbox.organization_id != org_id:
            raise NotFound("sandbox not found")
        return sandbox

    def record_of(self, sandbox_id: str) -> dict[str, Any]:
        """Status, engine, handle and mountpoint of a sandbox (what `/exec` and logs need)."""
        return self.sandbox(sandbox_id).record()

    # -- commands -----------------------------------------------------------------------------
    def create(
        self,
        org_id: str,
        repo_name: str,
        body: Mapping[str, Any],
        principal: Principal,
        *,
        sandbox_id: UUID | None = None,
        trigger: Mapping[str, str] | None = None,
    ) -> Result[Sandbox]:
        """Validate and queue a sandbox. With `sandbox_id` (triggers) creation is idempotent:
        a sandbox that already has that id is returned as it is."""
        if sandbox_id is not None:
            existing = self.find(sandbox_id, Sandbox)
            if existing is not None:
                return Result(existing)
        repo = self.repositories.get_repository(org_id, repo_name, read_only=True)
        max_days = int(repo.settings.get("session_max_duration_days") or 7)
        request = parse_request(
            body, default_timeout=self.default_timeout, max_timeout=max_days * DAY
        )
        acting = self._acting(org_id, repo_name, request, principal)
        if not self.runtime_available():
            raise Unavailable(
                "sandbox execution is not available: no container engine is reachable",
                retry_after=10,
                code="SANDBOXES_UNAVAILABLE",
            )
        base_seq, base_commit_id = repo.head_seq, repo.head_commit_id
        if trigger and trigger.get("commit_id") and trigger.get("commit_seq"):
            # A triggered sandbox sees the tree at the commit that fired, not the head.
            base_seq, base_commit_id = int(trigger["commit_seq"]), trigger["commit_id"]
        sandbox = Sandbox.request(
            sandbox_id=sandbox_id or uuid4(),
            organization_id=org_id,
            repository_id=str(repo.id),
            repository_name=repo.name,
            request=request,
            principal=acting,
            base_seq=base_seq,
            base_commit_id=base_commit_id,
            trigger=dict(trigger or {}),
            actor=principal.actor,
        )
        try:
            return Result(sandbox, (self.record(sandbox),))
        except Exception:
            if sandbox_id is not None and (again := self.find(sandbox_id, Sandbox)) is not None:
                return Result(again)  # a concurrent create with the same id won
            raise

    def _acting(
        self, org_id: str, repo_name: str, request: SandboxRequest, principal: Principal
    ) -> dict[str, str]:
        """Who the sandbox acts as: `run_as` when the caller may act for it, else the caller."""
        if request.run_as is None:
            return {"type": principal.type, "id": principal.id, "name": principal.name}
        kind, ident = request.run_as.type, request.run_as.id
        snap = self.authorizer.organization(principal, org_id)
        name = _principal_name(snap, kind, ident)
        if name is None:
            raise NotFound(f"{kind} '{ident}' not found in this organization")
        if (kind, ident) != (principal.type, principal.id):
            action, resource = (
                ("CreateAgentAPIKey", {"agent": name, "agent_owner": snap.agents[ident].created_by})
                if kind == "agent"
                else ("CreateRoleAPIKey", {"role": name})
            )
            if not snap.allows(principal.type, principal.id, action, resource):
                raise Forbidden(
                    f"{principal.type} '{principal.name}' may not act for {kind} '{name}' "
                    f"(running as it needs {action} on it)"
                )
        if not snap.allows(kind, ident, "CreateSandbox", {"repository": repo_name}):
            raise Forbidden(f"{kind} '{name}' may not CreateSandbox on '{repo_name}'")
        return {"type": kind, "id": ident, "name": name}

    def cancel(
        self, org_id: str, repo_name: str, sandbox_id: str, principal: Principal
    ) -> Result[Sandbox]:
        """Ask the sandbox to stop and roll back (409 once terminal). A sandbox no worker has
        claimed yet ends here and now."""

        def attempt() -> Result[Sandbox]:
            sandbox = self.in_repository(org_id, repo_name, sandbox_id)
            sandbox.request_cancel(principal.actor)
            if sandbox.attempts == 0:
                sandbox.finish(CANCELLED, "cancelled_by_user", error_message="cancelled")
            return Result(sandbox, (self.record(sandbox),))

        return self.retrying(attempt)

    def request_finish(
        self, org_id: str, repo_name: str, sandbox_id: str, principal: Principal
    ) -> Result[Sandbox]:
        """Ask a service sandbox to end and commit (400 other modes, 409 once terminal)."""

        def attempt() -> Result[Sandbox]:
            sandbox = self.in_repository(org_id, repo_name, sandbox_id)
            sandbox.request_finish(principal.actor)
            return Result(sandbox, (self.record(sandbox),))

        return self.retrying(attempt)

    def record_exec(
        self,
        sandbox_id: str,
        principal: Principal,
        argv: list[str],
        cwd: str,
        exit_code: int,
        duration_ms: int,
    ) -> Result[None]:
        """An `/exec` child ended: on the record (the audit log shows it), env values never."""

        def attempt() -> Result[None]:
            sandbox = self.sandbox(sandbox_id)
            sandbox.record_exec(principal.actor, argv, cwd, exit_code, duration_ms)
            return Result(None, (self.record(sandbox),))

        return self.retrying(attempt)

    def record_terminal(
        self,
        sandbox_id: str,
        principal: Principal,
        *,
        attached: bool,
        duration_ms: int = 0,
        exited: bool = False,
    ) -> Result[None]:
        """A client attached to, or left, the terminal: on the record (the audit log)."""

        def attempt() -> Result[None]:
            sandbox = self.sandbox(sandbox_id)
            sandbox.record_terminal(
                principal.actor, attached=attached, duration_ms=duration_ms, exited=exited
            )
            return Result(None, (self.record(sandbox),))

        return self.retrying(attempt)

    # -- what runners record ------------------------------------------------------------------
    def transition(self, sandbox_id: str, change: Callable[[Sandbox], object]) -> Sandbox:
        """Apply a runner's change to the sandbox and save it (lost races retried)."""

        def attempt() -> Sandbox:
            sandbox = self.sandbox(sandbox_id)
            change(sandbox)
            self.record(sandbox)
            return sandbox

        return self.retrying(attempt)

    def claim(self, sandbox_id: str, worker: str) -> Sandbox:
        return self.transition(sandbox_id, lambda s: s.claim(worker))

    def finish(self, sandbox_id: str, status: str, reason: str, **outcome: Any) -> Sandbox:
        return self.transition(sandbox_id, lambda s: s.finish(status, reason, **outcome))


def _principal_name(snap: OrgSnapshot, kind: str, ident: str) -> str | None:
    if kind == "agent":
        agent = snap.agents.get(ident)
        return agent.name if agent is not None else None
    if kind == "role":
        return snap.roles.get(ident)
    return None
