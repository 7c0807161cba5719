"""The Session aggregate: an isolated staging area forked from the head at one commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.catalog.commits import Change, Committer, NewCommit
from domain.catalog.repository import Repository
from domain.catalog.staging import StagingShard
from domain.shared.errors import Conflict, Forbidden, Invalid, NotFound
from domain.shared.scoped import OrgAggregate, OrgCreated, OrgEvent, start_state
from domain.shared.values import Actor

OPEN = "open"
PENDING_APPROVAL = "pending_approval"
COMMITTED = "committed"
ROLLED_BACK = "rolled_back"
SHARDS = 16


@dataclass(frozen=True)
class ApprovedCommit:
    """What an approval commits: the request's message unless the approver gave one, its
    metadata plus who approved, attributed to the agent that asked."""

    message: str
    metadata: dict[str, str]
    committer: Committer


class Session(OrgAggregate):
    """Staged changes live in StagingShard streams; the session records its lifecycle and
    which shards it uses, so committing or rolling back conflicts with any staging race."""

    class Opened(OrgCreated):
        """A session was opened on a repository at head `base_seq`."""

        repository_id: str
        base_seq: int
        purpose: str

        def apply(self, session: Session) -> None:
            start_state(session, self)
            session.repository_id = self.repository_id
            session.base_seq = self.base_seq
            session.purpose = self.purpose
            session.status = OPEN
            session.shards = []
            session.approval = {}

    class ShardOpened(OrgEvent):
        """The session staged into shard `index` for the first time."""

        index: int

        def apply(self, session: Session) -> None:
            session.shards = sorted({*session.shards, self.index})

    class ApprovalRequested(OrgEvent):
        """An agent's commit waits for a human (the repository requires approval)."""

        message: str
        metadata: dict[str, str]

        def apply(self, session: Session) -> None:
            session.status = PENDING_APPROVAL
            session.approval = {
                "message": self.message,
                "metadata": dict(self.metadata),
                "requested_by_type": self.actor_type,
                "requested_by": self.actor_id,
            }

    class Committed(OrgEvent):
        """The staged changes became commit `commit_id` (sequence `seq`)."""

        commit_id: str
        seq: int

        def apply(self, session: Session) -> None:
            session.status = COMMITTED

    class RolledBack(OrgEvent):
        """The staged changes were discarded."""

        reason: str

        def apply(self, session: Session) -> None:
            session.status = ROLLED_BACK

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        repository_id: str
        base_seq: int
        purpose: str
        status: str
        shards: list[int]
        approval: dict[str, Any]

    @classmethod
    def open(
        cls,
        *,
        session_id: Any,
        organization_id: str,
        repository_id: str,
        base_seq: int,
        actor: Actor,
        purpose: str = "",
    ) -> Session:
        session: Session = cls._start(
            cls.Opened,
            id=session_id,
            organization_id=organization_id,
            actor=actor,
            repository_id=repository_id,
            base_seq=base_seq,
            purpose=purpose,
        )
        return session

    def require_open(self) -> None:
        if self.status == PENDING_APPROVAL:
            raise Conflict("the session is waiting for approval; approve or roll it back")
        if self.status != OPEN:
            raise NotFound("session not found or already closed")

    def require_committable(self) -> None:
        """Open, or waiting for approval: what a commit may close."""
        if self.status not in (OPEN, PENDING_APPROVAL):
            raise NotFound("session not found or already closed")

    def use_shard(self, index: int, actor: Actor) -> bool:
        """Register a shard before its first staging; True if that took an event."""
        self.require_open()
        if index in self.shards:
            return False
        self._act(self.ShardOpened, actor, index=index)
        return True

    def request_approval(self, message: str, metadata: dict[str, str], actor: Actor) -> None:
        self.require_open()
        self._act(self.ApprovalRequested, actor, message=message, metadata=metadata)

    def approved_commit(
        self, approver: Actor, approver_name: str, message: str | None, metadata: dict[str, str]
    ) -> ApprovedCommit:
        """The commit a human's approval makes of the pending request (no event: committing
        records it)."""
        if approver.type == "agent":
            raise Forbidden("agents cannot approve commits")
        if self.status != PENDING_APPROVAL:
            raise NotFound("no commit is waiting for approval in this session")
        requested = dict(self.approval["metadata"])
        committer_name = requested.pop("requested_by_name", "")
        return ApprovedCommit(
            message=message or self.approval["message"],
            metadata={
                **requested,
                **metadata,
                "approved_by": approver_name,
                "approved_by_type": approver.type,
                "approved_by_id": approver.id,
            },
            committer=Committer(
                Actor(self.approval["requested_by_type"], self.approval["requested_by"]),
                committer_name,
            ),
        )

    def commit(
        self,
        repo: Repository,
        shards: Sequence[StagingShard],
        changes: Sequence[Change],
        *,
        message: str,
        metadata: dict[str, str],
        committer: Committer,
        closer: Actor,
        kind: str,
        timestamp: datetime,
    ) -> NewCommit:
        """Land the staged `changes` (this session's net change) as the repository's next
        commit, close the session and seal its shards; `closer` is who made it happen."""
        self.require_committable()
        if str(repo.id) != self.repository_id:
            raise NotFound("session not found")
        if sorted(s.index for s in shards) != self.shards or any(
            s.session_id != str(self.id) or s.sealed for s in shards
        ):
            raise Conflict("the session changed concurrently; retry")
        new = repo.add_commit(
            session_id=str(self.id),
            changes=changes,
            message=message,
            metadata=metadata,
            committer=committer,
            kind=kind,
            timestamp=timestamp,
        )
        self._act(self.Committed, closer, commit_id=new.commit_id, seq=new.seq)
        for shard in shards:
            shard.seal("committed", closer)
        return new

    def roll_back(self, reason: str, actor: Actor, shards: Sequence[StagingShard] = ()) -> bool:
        """Discard the session and seal its shards; False when it was already rolled back
        (rollback is idempotent)."""
        if self.status == COMMITTED:
            raise Invalid("the session is already committed")
        if self.status == ROLLED_BACK:
            return False
        self._act(self.RolledBack, actor, reason=reason)
        for shard in shards:
            shard.seal("rolled back", actor)
        return True
