"""Session commands: open, commit (or ask for approval), approve, roll back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from application.base import Result
from application.catalog.app import CatalogBase
from application.principal import Principal
from domain.catalog.commits import Committer, check_message, check_metadata
from domain.catalog.repository import Repository
from domain.catalog.session import Session
from domain.shared.errors import Conflict, Invalid, NotFound
from domain.shared.ids import random_uuid
from domain.shared.values import Actor

CONFLICT_MESSAGE = "Session conflicts with another concurrent commit"


@dataclass(frozen=True)
class CommitOutcome:
    """A new commit, or a request for human approval."""

    commit_id: str = ""
    seq: int = 0
    approval_required: bool = False


class SessionCommands(CatalogBase):
    """The lifecycle of a staging session."""

    def create_session(
        self, org_id: str, repo_name: str, principal: Principal, purpose: str = ""
    ) -> Result[Session]:
        repo = self.get_repository(org_id, repo_name)
        session = Session.open(
            session_id=random_uuid(),
            organization_id=org_id,
            repository_id=str(repo.id),
            base_seq=repo.head_seq,
            actor=principal.actor,
            purpose=purpose,
        )
        return Result(session, (self.record(session),))

    def commit(
        self,
        org_id: str,
        repo_name: str,
        session_id: str,
        *,
        message: object,
        metadata: object,
        principal: Principal,
    ) -> Result[CommitOutcome]:
        """Commit the session, or (the repository's approval rule) ask a human first."""
        text = check_message(message)
        meta = check_metadata(metadata)
        repo = self.get_repository(org_id, repo_name)
        session = self.open_session(repo, session_id)
        if repo.requires_approval(principal.actor):
            if not self.reads.staged_changes(session_id):
                self._nothing_to_commit(repo, session_id)
            session.request_approval(
                text, {**meta, "requested_by_name": principal.name}, principal.actor
            )
            return Result(CommitOutcome(approval_required=True), (self.record(session),))
        return self.commit_staged(
            org_id,
            repo_name,
            session_id,
            message=text,
            metadata=meta,
            committer=Committer(principal.actor, principal.name),
            closer=principal.actor,
        )

    def approve(
        self,
        org_id: str,
        repo_name: str,
        session_id: str,
        *,
        message: object,
        metadata: object,
        principal: Principal,
    ) -> Result[CommitOutcome]:
        """A human approves an agent's pending commit: it lands with approved_by* metadata."""
        meta = check_metadata(metadata)
        text = check_message(message) if message not in (None, "") else None
        session = self.session(self.get_repository(org_id, repo_name), session_id)
        approved = session.approved_commit(principal.actor, principal.name, text, meta)
        return self.commit_staged(
            org_id,
            repo_name,
            session_id,
            message=approved.message,
            metadata=approved.metadata,
            committer=approved.committer,
            closer=principal.actor,
        )

    def commit_staged(
        self,
        org_id: str,
        repo_name: str,
        session_id: str,
        *,
        message: str,
        metadata: dict[str, str],
        committer: Committer,
        closer: Actor,
        kind: str = "session",
    ) -> Result[CommitOutcome]:
        """The one commit path (session commits, approvals, reverts; sandboxes and imports
        next): the session's net staged change becomes the repository's next commit, 409
        when commits since its base changed the same paths. Lost races are retried."""

        def attempt() -> Result[CommitOutcome]:
            repo = self.get_repository(org_id, repo_name)
            session = self.session(repo, session_id)
            session.require_committable()
            shards = self.shards(session)
            staged = self.reads.staged_changes(session_id)
            if not staged:
                self._nothing_to_commit(repo, session_id)
            conflicts = self.reads.conflicting_paths(
                str(repo.id), session_id, session.base_seq, repo.head_seq
            )
            if conflicts:
                raise Conflict(
                    f"{CONFLICT_MESSAGE}: {', '.join(conflicts[:10])} changed "
                    "since the session began"
                )
            new = session.commit(
                repo,
                shards,
                staged,
                message=message,
                metadata=metadata,
                committer=committer,
                closer=closer,
                kind=kind,
                timestamp=self.clock(),
            )
            outcome = CommitOutcome(commit_id=new.commit_id, seq=new.seq)
            return Result(outcome, (self.record(repo, session, *shards),))

        return self.retrying(attempt, conflict=CONFLICT_MESSAGE)

    def _nothing_to_commit(self, repo: Repository, session_id: str) -> NoReturn:
        """400 for a session with no net change, unless it closed since it was read: a
        rollback landing between reading the session and its staged rows empties them,
        and that is a closed session (404), not an empty one."""
        self.session(repo, session_id).require_committable()
        raise Invalid("nothing to commit: the session has no staged changes")

    def rollback(
        self,
        org_id: str,
        repo_name: str,
        session_id: str,
        principal: Principal,
        reason: str = "rolled back",
    ) -> Result[None]:
        """Discard a session (idempotent; also after a failed commit)."""

        def attempt() -> Result[None]:
            repo = self.get_repository(org_id, repo_name)
            session = self.session(repo, session_id)
            if session.status == "committed":
                raise NotFound("session not found or already committed")
            shards = self.shards(session)
            if not session.roll_back(reason, principal.actor, shards):
                return Result(None)
            return Result(None, (self.record(session, *shards),))

        return self.retrying(attempt)
