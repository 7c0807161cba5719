"""SandboxQueries: the read side of sandboxes (list, get, status), scoped to a repository."""

from __future__ import annotations

from typing import Any, Protocol

from application.sandboxes.app import Repositories
from domain.shared.errors import NotFound
from domain.shared.ids import parse_uuid

STATUS_FIELDS = ("status", "status_reason", "exit_code", "commit_id", "web_url", "error_message")


class SandboxReads(Protocol):
    """The sandboxes view (projections/sandboxes/sandboxes.py)."""

    def list(self, repository_id: str, *, after: str, amount: int) -> list[dict[str, Any]]: ...

    def get(self, repository_id: str, sandbox_id: str) -> dict[str, Any] | None: ...


class SandboxQueries:
    """Reads through the view, after resolving the repository (404 when it is not live)."""

    def __init__(self, repositories: Repositories, reads: SandboxReads) -> None:
        self.repositories = repositories
        self.reads = reads

    def _repository_id(self, org_id: str, repo_name: str) -> str:
        return str(self.repositories.get_repository(org_id, repo_name, read_only=True).id)

    def list(
        self, org_id: str, repo_name: str, *, after: str = "", amount: int = 100
    ) -> list[dict[str, Any]]:
        """Newest first; each row carries `sort_key`, the next page's `after`."""
        return self.reads.list(self._repository_id(org_id, repo_name), after=after, amount=amount)

    def get(self, org_id: str, repo_name: str, sandbox_id: str) -> dict[str, Any]:
        row = None
        if parse_uuid(sandbox_id) is not None:
            row = self.reads.get(self._repository_id(org_id, repo_name), sandbox_id)
        if row is None:
            raise NotFound("sandbox not found")
        return row

    def status(self, org_id: str, repo_name: str, sandbox_id: str) -> dict[str, Any]:
        row = self.get(org_id, repo_name, sandbox_id)
        return {k: row[k] for k in STATUS_FIELDS}
