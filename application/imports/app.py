"""ImportsApplication: start an import job, read its status, and record a worker's progress."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol
from uuid import UUID, uuid4

from application.authz import Authorizer
from application.base import Result, TildeApplication, Written
from application.catalog import CatalogApplication
from application.imports.ports import SourceResolver
from application.principal import Principal
from domain.imports.job import ImportJob
from domain.imports.request import check_request
from domain.shared.errors import Forbidden, Invalid, NotFound
from domain.shared.values import Actor

# What reading a source repository's objects takes (both: the import lists and reads them).
SOURCE_READS = ("ListObjects", "GetObject")


class ImportJobReads(Protocol):
    """The import jobs view."""

    def job(self, job_id: str) -> dict[str, Any] | None: ...


class ImportsApplication(TildeApplication):
    """Import jobs: requests are checked and recorded here; `ImportRunner` performs them."""

    name = "imports"
    snapshotting_intervals = {ImportJob: 100}

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        catalog: CatalogApplication,
        authorizer: Authorizer,
        reads: ImportJobReads,
        connectors: Callable[[], SourceResolver | None],
        **kwargs: Any,
    ) -> None:
        super().__init__(env, **kwargs)
        self.catalog = catalog
        self.authorizer = authorizer
        self.reads = reads
        self.connectors = connectors

    # -- commands -------------------------------------------------------------------------
    def start_import(
        self, org_id: str, repo_name: str, body: dict[str, Any], principal: Principal
    ) -> Result[ImportJob]:
        """Check the request and the source, then record the job (202: a worker runs it)."""
        request = check_request(
            connector_id=body.get("connector_id"),
            source_organization=body.get("source_organization"),
            source_repository=body.get("source_repository"),
            destination_path=body.get("destination_path"),
            source_prefix=body.get("source_prefix"),
            commit_message=body.get("commit_message"),
        )
        repo = self.catalog.get_repository(org_id, repo_name, read_only=True)
        if repo.requires_approval(principal.actor):
            # The job commits on its own: from an agent here, that would skip the approval.
            raise Forbidden(
                "agents' commits to this repository need a human's approval, and an import "
                "commits on its own: ask a user to run it, or turn agents_require_approval off"
            )
        source_org_id = source_repo_id = ""
        if request.from_repository:
            source_org_id, source_repo_id = self._readable_source(
                principal, request.source_organization, request.source_repository
            )
        else:
            resolver = self.connectors()
            if resolver is None:
                raise Invalid("connector imports are not available on this server")
            # Fails now (404 unknown, 410 deleted, 400 not attached) rather than in the job.
            resolver.source_for(org_id, request.connector_id, str(repo.id))
        job = ImportJob.request(
            job_id=uuid4(),
            organization_id=org_id,
            repository_id=str(repo.id),
            repository=repo_name,
            request=request,
            source_organization_id=source_org_id,
            source_repository_id=source_repo_id,
            committer_name=principal.name,
            actor=principal.actor,
        )
        return Result(job, (self.record(job),))

    def _readable_source(self, principal: Principal, org: str, name: str) -> tuple[str, str]:
        """The source organization's and repository's ids when the principal may read the
        repository; NotFound otherwise (an unreadable repository is not revealed)."""
        hidden = NotFound(f"source repository '{org}/{name}' not found")
        try:
            snap = self.authorizer.organization(principal, org)
            for action in SOURCE_READS:
                self.authorizer.authorize(principal, snap.org_id, action, {"repository": name})
            source = self.catalog.get_repository(snap.org_id, name, read_only=True)
        except (NotFound, Forbidden):
            raise hidden from None
        return snap.org_id, str(source.id)

    def job(self, job_id: str) -> ImportJob:
        try:
            return self.get(UUID(str(job_id)), ImportJob, "import job")
        except ValueError:
            raise NotFound("import job not found") from None

    def save_job(self, job: ImportJob) -> Written:
        return self.record(job)

    def update(self, job_id: str, change: Callable[[ImportJob], None]) -> Written:
        """Load, change and save a job, retrying a lost race (two workers, one lease)."""

        def attempt() -> Written:
            job = self.job(job_id)
            change(job)
            return self.record(job)

        return self.retrying(attempt, conflict="the import job changed concurrently")

    # -- queries --------------------------------------------------------------------------
    def status(self, org_id: str, repo_name: str, job_id: str) -> dict[str, Any]:
        """The job's row (the spec's ImportJob) if it belongs to the repository; else 404."""
        repo = self.catalog.get_repository(org_id, repo_name, read_only=True)
        row = self.reads.job(str(job_id))
        if row is None or row["repository_id"] != str(repo.id):
            raise NotFound("import job not found")
        return row


SYSTEM = Actor.system()
