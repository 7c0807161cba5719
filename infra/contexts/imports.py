"""The imports context: import jobs, their status view, and the job workers that copy
objects in from connectors and other repositories (on every worker process)."""

from __future__ import annotations

from typing import Any

from application.authz import Authorizer
from application.catalog import CatalogApplication
from application.imports import ImportRunner, ImportsApplication
from application.imports.ports import CONNECTORS_SERVICE, SourceResolver
from infra.contexts.base import ContextParts, Shared
from infra.imports.blob_writer import blob_writer
from infra.processes.queue import JobQueue
from infra.processes.worker import JobWorker
from infra.sql.database import Database
from projections.imports.jobs import ImportJobsView, SqlImportJobs
from projections.imports.queue import ImportQueueView

# A killed worker's import is taken over this many seconds after its last heartbeat.
LEASE_SECONDS = 10.0
# Bulk loads of at least this many objects refresh the planner's statistics (PostgreSQL).
ANALYZE_AFTER = 1000


def refresh_statistics(db: Database) -> Any:
    """After a bulk load, stale statistics can make small commits scan (bench/README.md)."""

    def after_bulk_load(count: int) -> None:
        if db.dialect == "postgresql" and count >= ANALYZE_AFTER:
            with db.transaction() as cur:
                cur.execute("ANALYZE catalog_entries")
                cur.execute("ANALYZE catalog_changes")

    return after_bulk_load


def build(shared: Shared) -> ContextParts:
    catalog = shared.get("catalog", CatalogApplication)

    def connectors() -> SourceResolver | None:
        # The connectors context may come later in the registry (or not at all).
        found: Any = shared.services.get(CONNECTORS_SERVICE)
        return found if found is not None and hasattr(found, "source_for") else None

    imports = ImportsApplication(
        shared.env("imports"),
        factory=shared.factory,
        catalog=catalog,
        authorizer=shared.get("authorizer", Authorizer),
        reads=SqlImportJobs(shared.db),
        connectors=connectors,
        clock=shared.clock,
        observers=[shared.saved],
    )
    runner = ImportRunner(
        imports,
        catalog,
        blob_writer(catalog.blobs),
        after_bulk_load=refresh_statistics(shared.services["catalog_db"]),
    )
    # Leases and backoff are wall-clock time, as the queued jobs' due times are (the event
    # timestamps), whatever clock the applications are given.
    queue = JobQueue(
        shared.db, "imports", shared.metrics, lease=LEASE_SECONDS, base_delay=1.0, max_attempts=20
    )
    worker = JobWorker(queue, {"import": runner.perform}, poll_interval=0.2, batch=1)
    return ContextParts(
        applications=[imports],
        views=[ImportJobsView(), ImportQueueView()],
        workers=[worker],
        services={"imports": imports, "import_runner": runner, "import_worker": worker},
    )
