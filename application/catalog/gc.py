"""Retention and garbage collection: expire invisible entry versions, close abandoned
sessions, purge deleted repositories, delete blobs nothing references."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from uuid import UUID

from application.catalog.sessions import SessionCommands
from application.principal import Principal
from domain.catalog.repository import Repository
from domain.catalog.session import Session
from domain.shared.errors import DomainError
from domain.shared.ids import index_id
from domain.shared.index import IndexEntry
from domain.shared.values import Actor, stamp

SYSTEM = Principal(type="system", id="", name="gc", via="internal")


@dataclass
class GcReport:
    """What one collection did."""

    entry_versions_expired_up_to: dict[str, int] = field(default_factory=dict)
    sessions_rolled_back: int = 0
    repositories_purged: int = 0
    organizations_purged: int = 0
    blobs_deleted: int = 0
    blobs_kept: int = 0
    multiparts_aborted: int = 0


class GarbageCollection(SessionCommands):
    """Never removes what a retained commit, an open session or an in-flight upload uses."""

    def upload_grace(self) -> timedelta:
        # Upload tokens live 2 x upload_ttl; bytes younger than that may still be finalized.
        return timedelta(seconds=2 * self.upload_ttl) + timedelta(hours=1)

    def collect(self, now: datetime | None = None) -> GcReport:
        now = now or self.clock()
        report = GcReport()
        report.sessions_rolled_back = self._close_abandoned_sessions(now)
        open_bases = self._open_session_bases()
        for row in self.reads.repositories():
            # A commit may land between loading the repository and recording: retry.
            bases = open_bases.get(row["id"], [])
            retain = partial(self._retain, row["id"], now, bases, report)
            if not self.retrying(retain, conflict="the repository changed concurrently"):
                continue
            deleted, kept = self._collect_blobs(row["id"], now)
            report.blobs_deleted += deleted
            report.blobs_kept += kept
        report.multiparts_aborted = self.blobs.abort_stale_multiparts(now - self.upload_grace())
        return report

    def _retain(
        self, repository_id: str, now: datetime, bases: list[int], report: GcReport
    ) -> bool:
        """Purge a deleted repository, or expire the entry versions retention allows;
        False when the repository is unknown."""
        repo = self.find(UUID(repository_id), Repository)
        if repo is None:
            return False
        if repo.deleted:
            # Restorable until the window ends; its bytes stay referenced until then.
            expired = repo.purge_after(self.deleted_retention) <= now
            if expired and self.purge_repository(repo, Actor.system()):
                report.repositories_purged += 1
            return True
        boundary = self.reads.stale_boundary(str(repo.id), stamp(repo.retention_start(now)))
        # Keep every version an open session's base commit can still see.
        boundary = min([boundary, *(b - 1 for b in bases)])
        if boundary > repo.retained_from:
            repo.apply_retention(boundary, Actor.system())
            self.record(repo)
            report.entry_versions_expired_up_to[str(repo.id)] = boundary
        return True

    def purge_repository(self, repo: Repository, actor: Actor) -> bool:
        """Drop a deleted repository's catalog rows (its blobs become collectable) and free
        its name; False when there was nothing to purge."""
        if not repo.deleted or repo.purged:
            return False
        repo.purge(actor)
        entry = self.find(index_id(f"repo-name:{repo.organization_id}", repo.name), IndexEntry)
        if entry is not None and entry.owner_id == str(repo.id):
            entry.release()
            self.record(repo, entry)
        else:
            self.record(repo)
        return True

    def purge_repositories_of(self, org_id: str) -> int:
        """Purge every repository of a purged organization, deleting what was left live."""
        purged = 0
        for row in self.reads.repositories():
            if row["organization_id"] != org_id or row["purged"]:
                continue

            def purge(repository_id: str = row["id"]) -> bool:
                repo = self.find(UUID(repository_id), Repository)
                if repo is None:
                    return False
                if not repo.deleted:
                    repo.delete(Actor.system(), at=self.clock())
                return self.purge_repository(repo, Actor.system())

            purged += self.retrying(purge, conflict="the repository changed concurrently")
        return purged

    def _close_abandoned_sessions(self, now: datetime) -> int:
        closed = 0
        for row in self.reads.open_sessions_before(stamp(now - timedelta(days=1))):
            repo = self.find(UUID(row["repository_id"]), Repository)
            session = self.find(UUID(row["id"]), Session)
            if repo is None or session is None:
                continue
            limit = int(repo.settings.get("session_max_duration_days") or 7)
            if session.created_on + timedelta(days=limit) > now:
                continue
            try:
                self.rollback(
                    repo.organization_id,
                    repo.name,
                    row["id"],
                    SYSTEM,
                    reason=f"expired after {limit} days",
                )
                closed += 1
            except DomainError:
                continue
        return closed

    def _open_session_bases(self) -> dict[str, list[int]]:
        bases: dict[str, list[int]] = {}
        for row in self.reads.open_sessions_before("9999"):
            bases.setdefault(row["repository_id"], []).append(int(row["base_seq"]))
        return bases

    def _collect_blobs(self, repository_id: str, now: datetime) -> tuple[int, int]:
        cutoff = now - self.upload_grace()
        deleted = kept = 0
        batch: list[str] = []

        def flush() -> None:
            nonlocal deleted, kept
            referenced = self.reads.referenced(batch)
            for address in batch:
                if address in referenced:
                    kept += 1
                else:
                    self.blobs.delete(address)
                    deleted += 1
            batch.clear()

        for address, modified in self.blobs.list_addresses(f"{repository_id}/"):
            if modified >= cutoff:
                kept += 1  # possibly an upload still in flight
                continue
            batch.append(address)
            if len(batch) >= 400:
                flush()
        if batch:
            flush()
        return deleted, kept
