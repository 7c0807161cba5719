"""Session commands: open, commit (or ask for approval), approve, roll back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn
from uuid import uuid4

from application.base import Result
from application.catalog.app import CatalogBase
from application.principal import Principal
from domain.catalog.commits import changes_digest, check_metadata, commit_id
from domain.catalog.repository import Repository
from domain.catalog.session import PENDING_APPROVAL, Session
from domain.shared.errors import Conflict, Forbidden, Invalid, NotFound
from domain.shared.values import Actor, stamp

CONFLICT_MESSAGE = "Session conflicts with another concurrent commit"


@dataclass(frozen=True)
class CommitOutcome:
    """A new commit, or a request for human approval."""

    commit_id: str = ""
    seq: int = 0
    approval_required: bool = False


def check_message(message: object) -> str:
    if not isinstance(message, str) or not message.strip():
        raise Invalid("message is required")
    if len(message) > 65536:
        raise Invalid("message must be at most 64 KiB")
    return message


class SessionCommands(CatalogBase):
    """The lifecycle of a staging session."""

    def create_session(
        self, org_id: str, repo_name: str, principal: Principal, purpose: str = ""
    ) -> Result[Session]:
        repo = self.get_repository(org_id, repo_name)
        session = Session.open(
            session_id=uuid4(),
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
        text = check_message(message)
        meta = check_metadata(metadata)
        repo = self.get_repository(org_id, repo_name)
        session = self.open_session(repo, session_id)
        if principal.type == "agent" and repo.settings.get("agents_require_approval"):
            if not self.reads.staged_changes(session_id):
                self._nothing_to_commit(repo, session_id)
            session.request_approval(
                text, {**meta, "requested_by_name": principal.name}, principal.actor
            )
            return Result(CommitOutcome(approval_required=True), (self.record(session),))
        return self._commit(
            org_id,
            repo_name,
            session_id,
            text,
            meta,
            committer=principal.actor,
            committer_name=principal.name,
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
        if principal.type == "agent":
            raise Forbidden("agents cannot approve commits")
        meta = check_metadata(metadata)
        session = self.session(self.get_repository(org_id, repo_name), session_id)
        if session.status != PENDING_APPROVAL:
            raise NotFound("no commit is waiting for approval in this session")
        request = session.approval
        requested = dict(request["metadata"])
        committer_name = requested.pop("requested_by_name", "")
        text = check_message(message) if message not in (None, "") else request["message"]
        merged = {
            **requested,
            **meta,
            "approved_by": principal.name,
            "approved_by_type": principal.type,
            "approved_by_id": principal.id,
        }
        return self._commit(
            org_id,
            repo_name,
            session_id,
            text,
            merged,
            committer=Actor(request["requested_by_type"], request["requested_by"]),
            committer_name=committer_name,
            closer=principal.actor,
        )

    def is_pending_approval(self, org_id: str, repo_name: str, session_id: str) -> bool:
        try:
            session = self.session(self.get_repository(org_id, repo_name), session_id)
        except NotFound:
            return False
        return session.status == PENDING_APPROVAL

    def _commit(
        self,
        org_id: str,
        repo_name: str,
        session_id: str,
        message: str,
        metadata: dict[str, str],
        *,
        committer: Actor,
        committer_name: str,
        closer: Actor,
        kind: str = "session",
    ) -> Result[CommitOutcome]:
        def attempt() -> Result[CommitOutcome]:
            repo = self.get_repository(org_id, repo_name)
            session = self.session(repo, session_id)
            if session.status not in ("open", PENDING_APPROVAL):
                raise NotFound("session not found or already closed")
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
            outcome = self._add_commit(
                repo, session_id, staged, message, metadata, committer, committer_name, kind
            )
            session.mark_committed(outcome.commit_id, outcome.seq, closer)
            for shard in shards:
                shard.seal("committed", closer)
            return Result(outcome, (self.record(repo, session, *shards),))

        return self.retrying(attempt, conflict=CONFLICT_MESSAGE)

    def _nothing_to_commit(self, repo: Repository, session_id: str) -> NoReturn:
        """400 for a session with no net change, unless it closed since it was read: a
        rollback landing between reading the session and its staged rows empties them,
        and that is a closed session (404), not an empty one."""
        if self.session(repo, session_id).status not in ("open", PENDING_APPROVAL):
            raise NotFound("session not found or already closed")
        raise Invalid("nothing to commit: the session has no staged changes")

    def _add_commit(
        self,
        repo: Repository,
        session_id: str,
        staged: list[dict[str, Any]],
        message: str,
        metadata: dict[str, str],
        committer: Actor,
        committer_name: str,
        kind: str,
    ) -> CommitOutcome:
        now = self.clock()
        seq = repo.head_seq + 1
        cid = commit_id(
            repository_id=str(repo.id),
            seq=seq,
            parents=[repo.head_commit_id] if repo.head_commit_id else [],
            message=message,
            metadata=metadata,
            committer_type=committer.type,
            committer_id=committer.id,
            created_at=stamp(now),
            digest=changes_digest((s["path"], s["op"], s["address"], s["etag"]) for s in staged),
        )
        repo.add_commit(
            commit_id=cid,
            session_id=session_id,
            message=message,
            metadata=metadata,
            committer=committer_name,
            kind=kind,
            changes=len(staged),
            actor=committer,
            timestamp=now,
        )
        return CommitOutcome(commit_id=cid, seq=seq)

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
            if not session.roll_back(reason, principal.actor):
                return Result(None)
            for shard in shards:
                shard.seal("rolled back", principal.actor)
            return Result(None, (self.record(session, *shards),))

        return self.retrying(attempt)
