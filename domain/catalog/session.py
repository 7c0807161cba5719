"""The Session aggregate: an isolated staging area forked from the head at one commit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.shared.errors import Conflict, Invalid, NotFound
from domain.shared.scoped import OrgAggregate, OrgCreated, OrgEvent, start_state
from domain.shared.values import Actor

OPEN = "open"
PENDING_APPROVAL = "pending_approval"
COMMITTED = "committed"
ROLLED_BACK = "rolled_back"
SHARDS = 16


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

    def mark_committed(self, commit_id: str, seq: int, actor: Actor) -> None:
        if self.status not in (OPEN, PENDING_APPROVAL):
            raise NotFound("session not found or already closed")
        self._act(self.Committed, actor, commit_id=commit_id, seq=seq)

    def roll_back(self, reason: str, actor: Actor) -> bool:
        """Discard the session; False when it was already closed (rollback is idempotent)."""
        if self.status == COMMITTED:
            raise Invalid("the session is already committed")
        if self.status == ROLLED_BACK:
            return False
        self._act(self.RolledBack, actor, reason=reason)
        return True
