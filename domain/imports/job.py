"""The ImportJob aggregate: one import's request, progress checkpoint and outcome."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.imports.request import ImportRequest
from domain.shared.errors import Conflict
from domain.shared.scoped import OrgAggregate, OrgCreated, OrgEvent, start_state
from domain.shared.values import Actor

PENDING = "pending"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
FINISHED = (COMPLETED, FAILED)
# Unexpected errors (an unreachable endpoint, a dropped connection) are retried this many
# times before the job fails with the last one.
MAX_ATTEMPTS = 3


class ImportJob(OrgAggregate):
    """Started by a request, driven by a worker: each staged batch records the last source
    key done, so a restarted worker resumes after it; the commit closes the job."""

    class Requested(OrgCreated):
        """Someone asked to import into repository `repository_id` (named `repository`)."""

        repository_id: str
        repository: str
        connector_id: str
        source_organization_id: str
        source_organization: str
        source_repository_id: str
        source_repository: str
        destination_path: str
        source_prefix: str
        commit_message: str
        committer_name: str

        def apply(self, job: ImportJob) -> None:
            start_state(job, self)
            for name in (
                "repository_id",
                "repository",
                "connector_id",
                "source_organization_id",
                "source_organization",
                "source_repository_id",
                "source_repository",
                "destination_path",
                "source_prefix",
                "commit_message",
                "committer_name",
            ):
                setattr(job, name, getattr(self, name))
            job.status = PENDING
            job.session_id = ""
            job.source_seq = 0
            job.checkpoint = ""
            job.objects_imported = 0
            job.attempts = 0
            job.commit_id = ""
            job.error = ""

    class Started(OrgEvent):
        """A worker opened the job's session (and pinned the source repository's commit)."""

        session_id: str
        source_seq: int

        def apply(self, job: ImportJob) -> None:
            job.status = RUNNING
            job.session_id = self.session_id
            job.source_seq = self.source_seq

    class Progressed(OrgEvent):
        """`count` more objects are staged, every source key up to `checkpoint` included."""

        checkpoint: str
        count: int

        def apply(self, job: ImportJob) -> None:
            job.checkpoint = self.checkpoint
            job.objects_imported += self.count

    class AttemptFailed(OrgEvent):
        """An unexpected error stopped a run; the job is retried from its checkpoint."""

        error: str

        def apply(self, job: ImportJob) -> None:
            job.attempts += 1
            job.error = self.error

    class Completed(OrgEvent):
        """Everything is imported and committed as `commit_id` ("" when nothing matched)."""

        commit_id: str

        def apply(self, job: ImportJob) -> None:
            job.status = COMPLETED
            job.commit_id = self.commit_id
            job.error = ""

    class Failed(OrgEvent):
        """The job stopped for good; nothing was committed."""

        error: str

        def apply(self, job: ImportJob) -> None:
            job.status = FAILED
            job.error = self.error

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        repository_id: str
        repository: str
        connector_id: str
        source_organization_id: str
        source_organization: str
        source_repository_id: str
        source_repository: str
        destination_path: str
        source_prefix: str
        commit_message: str
        committer_name: str
        status: str
        session_id: str
        source_seq: int
        checkpoint: str
        objects_imported: int
        attempts: int
        commit_id: str
        error: str

    @classmethod
    def request(
        cls,
        *,
        job_id: Any,
        organization_id: str,
        repository_id: str,
        repository: str,
        request: ImportRequest,
        source_organization_id: str,
        source_repository_id: str,
        committer_name: str,
        actor: Actor,
    ) -> ImportJob:
        job: ImportJob = cls._start(
            cls.Requested,
            id=job_id,
            organization_id=organization_id,
            actor=actor,
            repository_id=repository_id,
            repository=repository,
            connector_id=request.connector_id,
            source_organization_id=source_organization_id,
            source_organization=request.source_organization,
            source_repository_id=source_repository_id,
            source_repository=request.source_repository,
            destination_path=request.destination_path,
            source_prefix=request.source_prefix,
            commit_message=request.commit_message,
            committer_name=committer_name,
        )
        return job

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def from_repository(self) -> bool:
        return not self.connector_id

    def default_message(self) -> str:
        """The commit message when the request gave none: it names the source."""
        if self.from_repository:
            source = f"{self.source_organization}/{self.source_repository}"
        else:
            source = f"connector {self.connector_id}"
        prefix = f" ({self.source_prefix})" if self.source_prefix else ""
        return f"Import from {source}{prefix} into /{self.destination_path}"

    def _require_active(self) -> None:
        if self.finished:
            raise Conflict(f"the import job is already {self.status}")

    def start(self, session_id: str, source_seq: int, actor: Actor) -> None:
        self._require_active()
        if not self.session_id:
            self._act(self.Started, actor, session_id=session_id, source_seq=source_seq)

    def progress(self, checkpoint: str, count: int, actor: Actor) -> None:
        self._require_active()
        if checkpoint <= self.checkpoint:
            raise Conflict("an import checkpoint only moves forward")
        self._act(self.Progressed, actor, checkpoint=checkpoint, count=count)

    def attempt_failed(self, error: str, actor: Actor) -> bool:
        """Record a failed run; True when the job may be retried, False when it failed."""
        self._require_active()
        self._act(self.AttemptFailed, actor, error=error[:2000])
        if self.attempts >= MAX_ATTEMPTS:
            self.fail(error, actor)
            return False
        return True

    def complete(self, commit_id: str, actor: Actor) -> None:
        self._require_active()
        self._act(self.Completed, actor, commit_id=commit_id)

    def fail(self, error: str, actor: Actor) -> None:
        self._require_active()
        self._act(self.Failed, actor, error=error[:2000])
