"""ImportJobsView: one row per import job, as `getImportStatus` answers it."""

from __future__ import annotations

from typing import Any

from domain.imports.job import ImportJob
from domain.shared.values import iso
from projections.base import Cursor, Reader, View, on

COLUMNS = (
    "id, organization_id, repository_id, connector_id, source_repository_id,"
    " source_organization, source_repository, destination_path, source_prefix,"
    " commit_message, status, objects_imported, commit_id, error, created_by_type,"
    " created_by, created_at, updated_at"
)


class ImportJobsView(View):
    """Import jobs with their live counters (objects_imported grows while running)."""

    name = "import_jobs"
    follows = {
        "imports": (
            ImportJob.Requested,
            ImportJob.Started,
            ImportJob.Progressed,
            ImportJob.AttemptFailed,
            ImportJob.Completed,
            ImportJob.Failed,
        )
    }
    tables = ("import_jobs",)

    def create_statements(self, dialect: str) -> list[str]:
        return [
            "CREATE TABLE IF NOT EXISTS import_jobs ("
            " id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, repository_id TEXT NOT NULL,"
            " connector_id TEXT, source_repository_id TEXT, source_organization TEXT NOT NULL,"
            " source_repository TEXT NOT NULL, destination_path TEXT NOT NULL,"
            " source_prefix TEXT NOT NULL, commit_message TEXT NOT NULL, status TEXT NOT NULL,"
            " objects_imported BIGINT NOT NULL, commit_id TEXT NOT NULL, error TEXT NOT NULL,"
            " created_by_type TEXT NOT NULL, created_by TEXT NOT NULL,"
            " created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS import_jobs_repository ON import_jobs (repository_id)",
        ]

    @on(ImportJob.Requested)
    def _requested(self, cur: Cursor, e: ImportJob.Requested) -> None:
        at = iso(e.timestamp)
        cur.execute(
            f"INSERT INTO import_jobs ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (id) DO NOTHING",
            (str(e.originator_id), e.organization_id, e.repository_id, e.connector_id or None,
             e.source_repository_id or None, e.source_organization, e.source_repository,
             e.destination_path, e.source_prefix, e.commit_message, "pending", 0, "", "",
             e.actor_type, e.actor_id, at, at),
        )  # fmt: skip

    def _set(self, cur: Cursor, e: Any, assignments: str, params: tuple[Any, ...]) -> None:
        cur.execute(
            f"UPDATE import_jobs SET {assignments}, updated_at = ? WHERE id = ?",
            (*params, iso(e.timestamp), str(e.originator_id)),
        )

    @on(ImportJob.Started)
    def _started(self, cur: Cursor, e: ImportJob.Started) -> None:
        self._set(cur, e, "status = ?", ("running",))

    @on(ImportJob.Progressed)
    def _progressed(self, cur: Cursor, e: ImportJob.Progressed) -> None:
        self._set(cur, e, "objects_imported = objects_imported + ?", (e.count,))

    @on(ImportJob.AttemptFailed)
    def _attempt_failed(self, cur: Cursor, e: ImportJob.AttemptFailed) -> None:
        self._set(cur, e, "error = ?", (f"retrying after: {e.error}",))

    @on(ImportJob.Completed)
    def _completed(self, cur: Cursor, e: ImportJob.Completed) -> None:
        self._set(cur, e, "status = ?, commit_id = ?, error = ?", ("completed", e.commit_id, ""))

    @on(ImportJob.Failed)
    def _failed(self, cur: Cursor, e: ImportJob.Failed) -> None:
        self._set(cur, e, "status = ?, error = ?", ("failed", e.error))


class SqlImportJobs:
    """The view's reads (the imports application's `ImportJobReads`)."""

    def __init__(self, db: Reader) -> None:
        self.db = db

    def job(self, job_id: str) -> dict[str, Any] | None:
        return self.db.query_one(f"SELECT {COLUMNS} FROM import_jobs WHERE id = ?", (job_id,))
