"""ImportRunner: performs an import job on a worker, resumable from its last checkpoint.

A run opens (or finds) the job's own session, whose id derives from the job's, lists the
source in key order after the checkpoint, copies each batch with up to `parallel` objects in
flight, stages the batch and records its last key. A worker killed mid-batch leaves bytes no
entry references (the garbage collector removes them) and at most one batch staged beyond
the checkpoint: the next run finds those entries in the session and does not copy them again;
staging a path twice keeps one entry. Committing goes through the catalog's one commit path,
once: a run that finds the session already committed records that commit.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.persistence import IntegrityError

from application.catalog import CatalogApplication
from application.imports.app import ImportsApplication
from application.imports.ports import BlobWriter, SourceResolver
from application.imports.sources import ConnectorItems, Item, RepositoryItems
from application.principal import Principal
from application.processes import Job
from domain.catalog.commits import Committer
from domain.catalog.paths import check_path
from domain.catalog.repository import Repository
from domain.catalog.session import Session
from domain.catalog.staging import staged_put
from domain.imports.job import ImportJob
from domain.imports.request import relative_key
from domain.shared.errors import Conflict, DomainError, Forbidden, Gone, Invalid, NotFound
from domain.shared.ids import derived_id
from domain.shared.values import Actor, stamp

log = structlog.get_logger("tilde.imports")
SYSTEM = Actor.system()
IMPORTER = Principal(type="system", id="", name="importer", via="internal")
# Errors no retry can fix: the job fails at once with their message.
PERMANENT = (Invalid, NotFound, Gone, Forbidden, Conflict)
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def session_id_of(job_id: str) -> str:
    return str(derived_id("import-session", job_id))


def describe(error: BaseException) -> str:
    """An error as a person reads it: the domain message, or the exception's own words."""
    if isinstance(error, DomainError):
        return error.message
    text = str(error) or type(error).__name__
    return f"{text} ({type(error).__name__})" if type(error).__name__ not in text else text


class ImportRunner:
    """Performs `import` jobs (see the module docstring)."""

    def __init__(
        self,
        imports: ImportsApplication,
        catalog: CatalogApplication,
        writer: BlobWriter,
        *,
        batch: int = 250,
        parallel: int = 10,
        after_bulk_load: Callable[[int], None] = lambda count: None,
    ) -> None:
        self.imports = imports
        self.catalog = catalog
        self.writer = writer
        self.batch = batch
        self.parallel = parallel
        self.after_bulk_load = after_bulk_load

    def perform(self, job: Job) -> None:
        self.run(str(job.payload["job_id"]))

    def run(self, job_id: str) -> None:
        """Run the job to its end; raise to be retried (after an unexpected error)."""
        job = self.imports.job(job_id)
        if job.finished:
            return
        try:
            self._run(job)
        except PERMANENT as e:
            self._fail(job_id, describe(e))
        except Exception as e:
            error = describe(e)
            log.warning("import_attempt_failed", job=job_id, error=error)
            retry = False

            def record(j: ImportJob) -> None:
                nonlocal retry
                if not j.finished:
                    retry = j.attempt_failed(error, SYSTEM)

            self.imports.update(job_id, record)
            if retry:
                raise
            self._roll_back(self.imports.job(job_id))

    # -- one run ----------------------------------------------------------------------------
    def _run(self, job: ImportJob) -> None:
        repo = self.catalog.get_repository(job.organization_id, job.repository)
        if str(repo.id) != job.repository_id:
            raise NotFound(f"repository '{job.repository}' was deleted")
        resumed = bool(job.session_id)
        if not resumed:
            job = self._start(job, repo)
        session = self.catalog.reads.session_row(job.session_id)
        if session is not None and session["status"] == "committed":
            commit = self.catalog.reads.commit_of_session(job.repository_id, job.session_id)
            self._complete(str(job.id), commit["id"] if commit else "")
            return
        if session is None or session["status"] != "open":
            if session is not None and job.objects_imported == 0:
                self._complete(str(job.id), "")  # nothing matched; the rollback was recorded
                return
            raise Invalid("the import's session was closed before the import finished")
        items, prefix, label = self._source(job)
        with ThreadPoolExecutor(self.parallel, thread_name_prefix="import") as pool:
            for batch in _batches(items.list(prefix, job.checkpoint), self.batch):
                reuse = self._staged_before(job, batch) if resumed else {}
                resumed = False
                copy = partial(self._entry, job, prefix, label, items, reuse)
                entries = list(pool.map(copy, batch))
                self.catalog.stage(repo, job.session_id, entries, SYSTEM)
                self.imports.update(str(job.id), partial(_progress, batch[-1].key, len(batch)))
        self._commit(self.imports.job(str(job.id)), label)

    def _start(self, job: ImportJob, repo: Repository) -> ImportJob:
        """Open the job's session (its id derives from the job: a run that dies before
        recording it finds the same session next time) and pin the source's commit."""
        session_id = session_id_of(str(job.id))
        if self.catalog.find(UUID(session_id), Session) is None:
            session = Session.open(
                session_id=UUID(session_id),
                organization_id=job.organization_id,
                repository_id=str(repo.id),
                base_seq=repo.head_seq,
                actor=SYSTEM,
                purpose=f"import {job.id}",
            )
            with contextlib.suppress(IntegrityError):  # another run opened it
                self.catalog.record(session)
        seq = self.catalog.reads.head_seq(job.source_repository_id) if job.from_repository else 0
        self.imports.update(str(job.id), lambda j: j.start(session_id, seq, SYSTEM))
        return self.imports.job(str(job.id))

    def _source(self, job: ImportJob) -> tuple[Any, str, str]:
        """The items to import, the prefix to list and a label naming the source."""
        if job.from_repository:
            items: Any = RepositoryItems(
                self.catalog.reads, job.source_repository_id, job.source_seq
            )
            return items, job.source_prefix, f"{job.source_organization}/{job.source_repository}"
        resolver: SourceResolver | None = self.imports.connectors()
        if resolver is None:
            raise Invalid("connector imports are not available on this server")
        source, base = resolver.source_for(job.organization_id, job.connector_id, job.repository_id)
        return ConnectorItems(source), base + job.source_prefix, f"connector {job.connector_id}"

    def _destination(self, job: ImportJob, item: Item, prefix: str) -> str:
        path = job.destination_path + relative_key(item.key, prefix)
        try:
            return check_path(path, "path", new=True)
        except Invalid as e:
            raise Invalid(f"source object '{item.key}' cannot be imported as '{path}': "
                          f"{e.message}") from None  # fmt: skip

    def _metadata(self, job: ImportJob, item: Item) -> dict[str, Any]:
        return {
            "connector_id": job.connector_id,
            "connector_type": "repository" if job.from_repository else self._kind(job),
            "source_path": item.key,
            "version_id": "",
            "source_etag": item.etag,
            "import_time": stamp(self.imports.clock()),
            "import_job_id": str(job.id),
        }

    def _kind(self, job: ImportJob) -> str:
        connector = getattr(self.imports.connectors(), "connector", None)
        try:
            return str(connector(job.organization_id, job.connector_id).kind) if connector else ""
        except (DomainError, AttributeError):
            return ""

    def _entry(
        self,
        job: ImportJob,
        prefix: str,
        label: str,
        items: Any,
        reuse: dict[str, dict[str, Any]],
        item: Item,
    ) -> dict[str, Any]:
        return reuse.get(item.key) or self._copy(job, item, prefix, items)

    def _copy(self, job: ImportJob, item: Item, prefix: str, items: Any) -> dict[str, Any]:
        """The staged entry of one source object, its bytes copied into our blob store
        (or, from a repository on this store, its address reused: zero-copy)."""
        path = self._destination(job, item, prefix)
        address, size, etag = item.address, item.size, item.etag
        if not address:
            address = self.catalog.blobs.new_address(job.repository_id)
            body = items.open(item.key)
            try:
                info = self.writer.write(address, body, item.size)
            finally:
                body.close()
            if info.size != item.size:
                raise OSError(
                    f"'{item.key}' changed while it was imported ({item.size} bytes listed, "
                    f"{info.size} read)"
                )
            size, etag = info.size, info.etag
        return staged_put(
            path,
            address=address,
            size=size,
            etag=etag,
            content_type=item.content_type or DEFAULT_CONTENT_TYPE,
            metadata={},
            last_modified=stamp(self.catalog.clock()),
            source_metadata=self._metadata(job, item),
        )

    def _staged_before(self, job: ImportJob, batch: list[Item]) -> dict[str, dict[str, Any]]:
        """Entries a killed run staged beyond the checkpoint, by source key: not copied
        again. Only the first batch of a resumed run can hold any."""
        found: dict[str, dict[str, Any]] = {}
        prefix = self._source_prefix(job)
        for item in batch:
            path = job.destination_path + relative_key(item.key, prefix)
            entry = self.catalog.reads.session_entry(job.session_id, path)
            meta = _source_of(entry)
            if (
                entry is not None
                and meta.get("import_job_id") == str(job.id)
                and meta.get("source_path") == item.key
                and meta.get("source_etag") == item.etag
            ):
                found[item.key] = staged_put(
                    path,
                    address=entry["address"],
                    size=int(entry["size"]),
                    etag=entry["etag"],
                    content_type=entry["content_type"],
                    metadata={},
                    last_modified=entry["last_modified"],
                    source_metadata=meta,
                )
        return found

    def _source_prefix(self, job: ImportJob) -> str:
        if job.from_repository:
            return job.source_prefix
        resolver = self.imports.connectors()
        assert resolver is not None
        _, base = resolver.source_for(job.organization_id, job.connector_id, job.repository_id)
        return base + job.source_prefix

    def _commit(self, job: ImportJob, label: str) -> None:
        if job.objects_imported == 0:
            self.catalog.rollback(
                job.organization_id, job.repository, job.session_id, IMPORTER, "nothing to import"
            )
            self._complete(str(job.id), "")
            return
        outcome = self.catalog.commit_staged(
            job.organization_id,
            job.repository,
            job.session_id,
            message=job.commit_message or job.default_message(),
            metadata={"import_job_id": str(job.id), "import_source": label},
            committer=Committer(job.created_by, job.committer_name),
            closer=SYSTEM,
            kind="import",
        )
        self._complete(str(job.id), outcome.value.commit_id)
        self.after_bulk_load(job.objects_imported)

    # -- outcomes ---------------------------------------------------------------------------
    def _complete(self, job_id: str, commit_id: str) -> None:
        self.imports.update(job_id, lambda j: None if j.finished else j.complete(commit_id, SYSTEM))
        log.info("import_completed", job=job_id, commit_id=commit_id)

    def _fail(self, job_id: str, error: str) -> None:
        self.imports.update(job_id, lambda j: None if j.finished else j.fail(error, SYSTEM))
        log.warning("import_failed", job=job_id, error=error)
        self._roll_back(self.imports.job(job_id))

    def _roll_back(self, job: ImportJob) -> None:
        """A failed job commits nothing: discard what it staged (best effort)."""
        if not job.session_id:
            return
        with contextlib.suppress(DomainError):
            self.catalog.rollback(
                job.organization_id, job.repository, job.session_id, IMPORTER, "import failed"
            )


def _batches(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    while batch := list(itertools.islice(items, size)):
        yield batch


def _progress(last: str, count: int, job: ImportJob) -> None:
    job.progress(last, count, SYSTEM)


def _source_of(entry: dict[str, Any] | None) -> dict[str, Any]:
    if entry is None or not entry.get("source_metadata"):
        return {}
    value = entry["source_metadata"]
    return dict(json.loads(value) if isinstance(value, str) else value)
