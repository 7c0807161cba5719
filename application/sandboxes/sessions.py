"""CatalogSessions: a sandbox's staging session in the catalog (same id as the sandbox)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from urllib.parse import quote

from eventsourcing.persistence import IntegrityError

from application.catalog import CatalogApplication
from application.principal import Principal
from application.sandboxes.publishing import PublishOutcome
from domain.catalog.session import COMMITTED, OPEN, PENDING_APPROVAL, Session
from domain.sandboxes.sandbox import Sandbox
from domain.shared.errors import NotFound
from domain.shared.values import Actor


def acting(sandbox: Sandbox) -> Principal:
    """The principal a sandbox acts as (run_as, else its creator): it authors the commit."""
    return Principal(
        type=sandbox.principal["type"],
        id=sandbox.principal["id"],
        name=sandbox.principal.get("name", ""),
        via="sandbox",
        organization_id=sandbox.organization_id,
    )


def approval_url(base_url: str, org_name: str, repo_name: str, session_id: str) -> str:
    """The console page where a human approves the sandbox's pending commit."""
    tail = (
        f"organizations/{quote(org_name)}/repositories/{quote(repo_name)}"
        f"/sessions/{session_id}/approve"
    )
    return f"{base_url.rstrip('/')}/console/{tail}"


class CatalogSessions:
    """Opens, rolls back and inspects the session of a sandbox."""

    def __init__(
        self, catalog: CatalogApplication, base_url: str, org_name: Callable[[str], str]
    ) -> None:
        self.catalog = catalog
        self.base_url = base_url
        self.org_name = org_name

    def open(self, sandbox: Sandbox) -> None:
        """Open it at the head captured when the sandbox was created (idempotent)."""
        if self.catalog.find(sandbox.id, Session) is not None:
            return
        principal = acting(sandbox)
        session = Session.open(
            session_id=sandbox.id,
            organization_id=sandbox.organization_id,
            repository_id=sandbox.repository_id,
            base_seq=sandbox.base_seq,
            actor=Actor(principal.type, principal.id),
            purpose="sandbox",
        )
        with suppress(IntegrityError):  # another runner of this sandbox opened it first
            self.catalog.record(session)

    def rollback(self, sandbox: Sandbox, reason: str) -> None:
        if self.catalog.find(sandbox.id, Session) is None:
            return
        with suppress(NotFound):  # committed, or the repository is gone: nothing to discard
            self.catalog.rollback(
                sandbox.organization_id,
                sandbox.repository_name,
                str(sandbox.id),
                acting(sandbox),
                reason=f"sandbox {reason}",
            )

    def outcome(self, sandbox: Sandbox) -> PublishOutcome | None:
        session = self.catalog.find(sandbox.id, Session)
        if session is None or session.status == OPEN:
            return None
        if session.status == PENDING_APPROVAL:
            url = approval_url(
                self.base_url,
                self.org_name(sandbox.organization_id),
                sandbox.repository_name,
                str(sandbox.id),
            )
            return PublishOutcome("awaiting_approval", web_url=url)
        if session.status == COMMITTED:
            for event in self.catalog.events.get(sandbox.id):
                if isinstance(event, Session.Committed):
                    return PublishOutcome("committed", commit_id=event.commit_id)
        return None
