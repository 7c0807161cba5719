"""The Repository aggregate: settings, soft deletion, and the head of its linear history."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.shared.errors import Invalid, NotFound
from domain.shared.scoped import OrgAggregate, OrgCreated, OrgEvent, start_state
from domain.shared.values import Actor

DEFAULT_RETENTION_DAYS = 14
SETTINGS = (
    "description",
    "visibility",
    "retention_days",
    "session_max_duration_days",
    "agents_require_approval",
)


def check_settings(values: dict[str, Any]) -> dict[str, Any]:
    """Validated repository settings; unknown fields are kept as given (older clients)."""
    out = dict(values)
    if "description" in out and not isinstance(out["description"], str | type(None)):
        raise Invalid("description must be a string")
    if out.get("description") is None and "description" in out:
        out["description"] = ""
    for field in ("retention_days", "session_max_duration_days"):
        if field in out and out[field] is not None:
            value = out[field]
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 36500:
                raise Invalid(f"{field} must be an integer between 1 and 36500")
        elif field in out:
            del out[field]
    if "agents_require_approval" in out and not isinstance(out["agents_require_approval"], bool):
        raise Invalid("agents_require_approval must be a boolean")
    if "visibility" in out and not isinstance(out["visibility"], str):
        raise Invalid("visibility must be a string")
    return out


class Repository(OrgAggregate):
    """A named, versioned tree of objects with one linear history of commits."""

    class Created(OrgCreated):
        """A repository was created."""

        name: str
        settings: dict[str, Any]

        def apply(self, repo: Repository) -> None:
            start_state(repo, self)
            repo.name = self.name
            repo.settings = {
                "description": "",
                "visibility": "private",
                "retention_days": DEFAULT_RETENTION_DAYS,
                "session_max_duration_days": 7,
                "agents_require_approval": False,
                **self.settings,
            }
            repo.head_seq = 0
            repo.head_commit_id = ""
            repo.retained_from = 0
            repo.purged = False

    class Updated(OrgEvent):
        """Settings changed (only the fields given)."""

        settings: dict[str, Any]

        def apply(self, repo: Repository) -> None:
            repo.settings = {**repo.settings, **self.settings}

    class CommitAdded(OrgEvent):
        """A commit landed on the head: the staged changes of `session_id` became visible."""

        seq: int
        commit_id: str
        parents: list[str]
        session_id: str
        message: str
        metadata: dict[str, str]
        committer: str
        kind: str
        changes: int

        def apply(self, repo: Repository) -> None:
            repo.head_seq = self.seq
            repo.head_commit_id = self.commit_id

    class RetentionApplied(OrgEvent):
        """Entry versions no retained commit can see (valid_to <= up_to_seq) were expired."""

        up_to_seq: int

        def apply(self, repo: Repository) -> None:
            repo.retained_from = self.up_to_seq

    class Deleted(OrgEvent):
        """The repository was deleted (soft: garbage collection purges it later)."""

        def apply(self, repo: Repository) -> None:
            repo.deleted = True

    class Purged(OrgEvent):
        """Garbage collection dropped a deleted repository's catalog rows."""

        def apply(self, repo: Repository) -> None:
            repo.purged = True

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        name: str
        settings: dict[str, Any]
        head_seq: int
        head_commit_id: str
        retained_from: int
        purged: bool

    @classmethod
    def create(
        cls,
        *,
        repository_id: Any,
        organization_id: str,
        name: str,
        settings: dict[str, Any],
        actor: Actor,
    ) -> Repository:
        repo: Repository = cls._start(
            cls.Created,
            id=repository_id,
            organization_id=organization_id,
            actor=actor,
            name=name,
            settings=check_settings(settings),
        )
        return repo

    def require_live(self) -> None:
        if self.deleted:
            raise NotFound(f"repository '{self.name}' not found")

    def update(self, settings: dict[str, Any], actor: Actor) -> None:
        self.require_live()
        changes = {k: v for k, v in check_settings(settings).items() if self.settings.get(k) != v}
        if changes:
            self._act(self.Updated, actor, settings=changes)

    def add_commit(
        self,
        *,
        commit_id: str,
        session_id: str,
        message: str,
        metadata: dict[str, str],
        committer: str,
        kind: str,
        changes: int,
        actor: Actor,
        timestamp: datetime,
    ) -> int:
        self.require_live()
        seq = self.head_seq + 1
        parents = [self.head_commit_id] if self.head_commit_id else []
        self.trigger_event(
            self.CommitAdded,
            organization_id=self.organization_id,
            actor_type=actor.type,
            actor_id=actor.id,
            seq=seq,
            commit_id=commit_id,
            parents=parents,
            session_id=session_id,
            message=message,
            metadata=metadata,
            committer=committer,
            kind=kind,
            changes=changes,
            timestamp=timestamp,
        )
        return seq

    def apply_retention(self, up_to_seq: int, actor: Actor) -> None:
        if up_to_seq > self.retained_from:
            self._act(self.RetentionApplied, actor, up_to_seq=up_to_seq)

    def delete(self, actor: Actor) -> None:
        if not self.deleted:
            self._act(self.Deleted, actor)

    def purge(self, actor: Actor) -> None:
        if self.deleted and not self.purged:
            self._act(self.Purged, actor)
