"""The TriggerRun aggregate: one per (trigger, commit), whatever retries or replays happen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.shared.ids import derived_id
from domain.shared.scoped import OrgAggregate, OrgCreated, OrgEvent, start_state
from domain.shared.values import Actor

PENDING, CREATED, SKIPPED, FAILED = "pending", "created", "skipped", "failed"


def run_id(trigger_id: str, commit_id: str) -> Any:
    """The run's id: a second evaluation of the same commit finds the first run."""
    return derived_id("trigger-run", trigger_id, commit_id)


def sandbox_id_for(trigger_id: str, commit_id: str) -> str:
    """The sandbox a run launches: launching again (after a crash) names the same one."""
    return str(derived_id("trigger-sandbox", trigger_id, commit_id))


class TriggerRun(OrgAggregate):
    """A trigger's evaluation of one commit: pending while its sandbox launches, then
    created, or skipped/failed with the reason."""

    class Recorded(OrgCreated):
        """The commit matched (pending), or was skipped (loop guard, chain depth)."""

        repository_id: str
        trigger_id: str
        trigger_name: str
        commit_id: str
        seq: int
        status: str
        reason: str
        matched_paths: list[str]
        matched_count: int
        # 1 for a commit nobody's trigger made; n + 1 for a commit made by a sandbox that a
        # run of depth n launched (the chain guard stops at the configured depth).
        depth: int

        def apply(self, run: TriggerRun) -> None:
            start_state(run, self)
            run.trigger_id = self.trigger_id
            run.commit_id = self.commit_id
            run.status = self.status
            run.reason = self.reason
            run.sandbox_id = None
            run.depth = self.depth

    class Launched(OrgEvent):
        """The sandbox exists (created)."""

        sandbox_id: str

        def apply(self, run: TriggerRun) -> None:
            run.status = CREATED
            run.sandbox_id = self.sandbox_id

    class Failed(OrgEvent):
        """The sandbox could not be launched; `reason` says why."""

        reason: str

        def apply(self, run: TriggerRun) -> None:
            run.status = FAILED
            run.reason = self.reason

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        trigger_id: str
        commit_id: str
        status: str
        reason: str
        sandbox_id: str | None
        depth: int

    @classmethod
    def record(
        cls,
        *,
        organization_id: str,
        repository_id: str,
        trigger_id: str,
        trigger_name: str,
        commit_id: str,
        seq: int,
        status: str,
        reason: str,
        matched_paths: list[str],
        matched_count: int,
        depth: int,
    ) -> TriggerRun:
        run: TriggerRun = cls._start(
            cls.Recorded,
            id=run_id(trigger_id, commit_id),
            organization_id=organization_id,
            actor=Actor("trigger", trigger_id),
            repository_id=repository_id,
            trigger_id=trigger_id,
            trigger_name=trigger_name,
            commit_id=commit_id,
            seq=seq,
            status=status,
            reason=reason,
            matched_paths=matched_paths,
            matched_count=matched_count,
            depth=depth,
        )
        return run

    def launched(self, sandbox_id: str) -> None:
        if self.status == PENDING:
            self._act(self.Launched, Actor("trigger", self.trigger_id), sandbox_id=sandbox_id)

    def failed(self, reason: str) -> None:
        if self.status == PENDING:
            self._act(self.Failed, Actor("trigger", self.trigger_id), reason=reason)
