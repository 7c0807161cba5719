"""TriggerEvaluation: the process manager that turns commits into sandbox runs, once per
(trigger, commit).

Every commit of every repository (`Repository.CommitAdded`: session commits, approvals,
reverts, sandbox and import commits) becomes one `evaluate` job, queued in the projector's
tracked transaction (so exactly once, also across replays; never on a rebuild: the queue is
not rebuilt). A job worker performs it: it matches the repository's enabled triggers by
lookups in the commit's changes, records each match as a `TriggerRun` whose id derives from
(trigger, commit), and launches the run's sandbox under an id derived the same way. A worker
killed anywhere in between leaves a job whose lease runs out; the next attempt finds the
recorded run and launches the same sandbox id, which the sandboxes service answers with the
first one: one run, one sandbox, whatever crashes or how many workers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import structlog

from application.authz import Authorizer
from application.processes import Job, ProcessManager
from application.triggers.app import TriggersApplication
from application.triggers.ports import (
    CommitChanges,
    LaunchRefused,
    LaunchRequest,
    SandboxLauncher,
    TriggerReads,
)
from domain.catalog.repository import Repository
from domain.shared.values import stamp
from domain.triggers.conditions import Change, ChangeLookup, Condition, conditions_of, match
from domain.triggers.run import FAILED, PENDING, SKIPPED, TriggerRun, sandbox_id_for

log = structlog.get_logger("tilde.triggers")
EVALUATE = "evaluate"
# A commit a sandbox made names it: the sandboxes context commits the sandbox's own session,
# whose id is the sandbox's id; a commit of kind `sandbox` may also name it in its metadata.
# Users cannot choose a session id or the kind, so neither can be forged.
SANDBOX_COMMIT_KIND = "sandbox"
SANDBOX_ID_KEY = "tilde_sandbox_id"


def sandbox_of(kind: str, metadata: dict[str, str], session_id: str) -> str:
    """The sandbox that may have made a commit (the runs view says whether a trigger
    launched it)."""
    if kind == SANDBOX_COMMIT_KIND and metadata.get(SANDBOX_ID_KEY):
        return metadata[SANDBOX_ID_KEY]
    return session_id


class TriggerEvaluation(ProcessManager):
    """One `evaluate` job per commit; pure (the event alone decides it)."""

    name = "trigger-evaluation"
    follows = {"catalog": (Repository.CommitAdded,)}

    def handle(self, event: Any) -> Sequence[Job]:
        repo = str(event.originator_id)
        payload = {
            "organization_id": event.organization_id,
            "repository_id": repo,
            "commit_id": event.commit_id,
            "seq": event.seq,
            "committed_at": stamp(event.timestamp),
            "sandbox_id": sandbox_of(event.kind, dict(event.metadata), event.session_id),
        }
        return [Job(f"commit:{repo}:{event.commit_id}", repo, EVALUATE, payload)]


def changes_file(
    changes: CommitChanges, repository_id: str, seq: int, conditions: list[dict[str, Any]]
) -> Iterator[bytes]:
    """The TILDE_TRIGGER_CHANGES file of a sandbox a trigger launched: the lines (path, change,
    size) of the commit at `seq` that the trigger's conditions match, streamed."""
    stream = _stream(changes.lookup(repository_id, seq), conditions_of(conditions))
    for change in stream():
        row = {"path": change.path, "change": change.change, "size": change.size}
        yield (json.dumps(row, ensure_ascii=False) + "\n").encode()


def _stream(lookup: ChangeLookup, conditions: list[Condition]) -> Callable[[], Iterator[Change]]:
    """The matched changes, condition by condition (for the sandbox's changes file)."""

    def changes() -> Iterator[Change]:
        seen: set[str] = set()
        for condition in conditions:
            if condition.type == "path_exact":
                found = lookup.at(condition.value)
                batch: Iterable[Change] = [found] if found is not None else []
                if condition.diff_type != "any":
                    batch = [c for c in batch if c.change == condition.diff_type]
            else:
                batch = lookup.each(condition.value, condition.diff_type)
            for change in batch:
                if change.path not in seen:
                    seen.add(change.path)
                    yield change

    return changes


class Evaluator:
    """Performs `evaluate` jobs: match, record runs, launch their sandboxes."""

    def __init__(
        self,
        triggers: TriggersApplication,
        reads: TriggerReads,
        changes: CommitChanges,
        launcher: SandboxLauncher,
        authorizer: Authorizer,
        *,
        max_depth: int = 3,
    ) -> None:
        self.triggers = triggers
        self.reads = reads
        self.changes = changes
        self.launcher = launcher
        self.authorizer = authorizer
        self.max_depth = max_depth

    def __call__(self, job: Job) -> None:
        p = job.payload
        self.reads.catch_up()  # a trigger created just before the commit is seen
        origin = self.reads.run_of_sandbox(p["sandbox_id"]) if p.get("sandbox_id") else None
        lookup = self.changes.lookup(p["repository_id"], int(p["seq"]))
        for row in self.reads.enabled_triggers(p["repository_id"]):
            if row["enabled_at"] > p["committed_at"]:
                continue  # created or re-enabled after the commit: not its to evaluate
            conditions = conditions_of(row["conditions"])
            found = match(conditions, lookup)
            if not found.matched:
                continue
            status, reason, depth = self.guard(origin, row["id"])
            run = self.triggers.record_run(
                organization_id=p["organization_id"],
                repository_id=p["repository_id"],
                trigger_id=row["id"],
                trigger_name=row["name"],
                commit_id=p["commit_id"],
                seq=int(p["seq"]),
                status=status,
                reason=reason,
                matched_paths=found.paths,
                matched_count=found.count,
                depth=depth,
            )
            if run.status == PENDING:
                self._launch(run, row, p, lookup, conditions)

    def guard(self, origin: dict[str, Any] | None, trigger_id: str) -> tuple[str, str, int]:
        """The loop guard: (status, reason, depth) of a run for a commit made by the sandbox
        of run `origin` (None: a commit no trigger caused)."""
        if origin is None:
            return PENDING, "", 1
        depth = int(origin["depth"]) + 1
        if origin["trigger_id"] == trigger_id:
            return SKIPPED, "loop: the commit was made by a sandbox this trigger launched", depth
        if depth > self.max_depth:
            reason = (
                f"chain depth limit reached: {self.max_depth} triggers in a row "
                "(TILDE_TRIGGER_MAX_DEPTH)"
            )
            return SKIPPED, reason, depth
        return PENDING, "", depth

    def _principal(self, row: dict[str, Any]) -> tuple[str, str]:
        run_as = row.get("run_as")
        if run_as:
            return str(run_as["type"]), str(run_as["id"])
        return str(row["created_by_type"]), str(row["created_by"])

    def _refusal(self, row: dict[str, Any], p: dict[str, Any]) -> str:
        """Why the trigger may not launch now ("" when it may): re-checked at fire time."""
        snap = self.authorizer.snapshot(p["organization_id"])
        if snap is None:
            return "the organization no longer exists"
        resource = {"repository": row["repository_name"]}
        creator = (str(row["created_by_type"]), str(row["created_by"]))
        if not snap.allows(*creator, "CreateSandbox", resource):
            who = f"{creator[0]} {creator[1]}"
            return f"the trigger's creator ({who}) may no longer CreateSandbox here"
        kind, ident = self._principal(row)
        if (kind, ident) != creator:
            if not snap.knows(kind, ident):
                return f"run_as {kind} {ident} no longer exists"
            if not snap.allows(kind, ident, "CreateSandbox", resource):
                return f"run_as {kind} {ident} may not CreateSandbox here"
        return ""

    def _launch(
        self,
        run: TriggerRun,
        row: dict[str, Any],
        p: dict[str, Any],
        lookup: ChangeLookup,
        conditions: list[Condition],
    ) -> None:
        refusal = self._refusal(row, p)
        if refusal:
            self.triggers.run_failed(run, refusal)
            return
        config = row["sandbox_config"]
        kind, ident = self._principal(row)
        request = LaunchRequest(
            sandbox_id=sandbox_id_for(row["id"], p["commit_id"]),
            organization_id=p["organization_id"],
            repository_id=p["repository_id"],
            repository_name=row["repository_name"],
            trigger_id=row["id"],
            trigger_name=row["name"],
            run_id=str(run.id),
            commit_id=p["commit_id"],
            commit_seq=int(p["seq"]),
            principal_type=kind,
            principal_id=ident,
            creator_type=str(row["created_by_type"]),
            creator_id=str(row["created_by"]),
            run_as=row.get("run_as") or None,
            image=config["image"],
            command=list(config.get("command") or []),
            mountpoint=config.get("mountpoint") or "/sandbox",
            path_prefix=config.get("path_prefix") or "",
            timeout_seconds=config.get("timeout_seconds"),
            env_vars=dict(config.get("env_vars") or {}),
            trigger_env={
                "TILDE_TRIGGER_ID": row["id"],
                "TILDE_TRIGGER_NAME": row["name"],
                "TILDE_COMMIT_ID": p["commit_id"],
            },
            changes=_stream(lookup, conditions),
            conditions=list(row["conditions"]),
        )
        try:
            sandbox_id = self.launcher.launch(request)
        except LaunchRefused as e:
            log.warning("trigger_launch_refused", run=str(run.id), reason=str(e))
            self.triggers.run_failed(run, f"launch refused: {e}")
            return
        self.triggers.run_launched(run, sandbox_id)
        log.info("trigger_fired", run=str(run.id), trigger=row["id"], sandbox=sandbox_id)


__all__ = ["EVALUATE", "FAILED", "Evaluator", "TriggerEvaluation", "changes_file", "sandbox_of"]
